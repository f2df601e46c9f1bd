/**
 * A supplier bridge process killed with SIGKILL while sends are in flight, then restarted, on real
 * Kafka, MariaDB and Redis, routing to two local Twilio fakes. Copies are counted at the fakes:
 * nothing a provider accepted is sent again, except that an OTP in flight at the kill may get one
 * more copy; every other message goes out exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildMessageRequested, type MessageInput } from '../../core/message-request.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { newId } from '../../core/ids.ts';
import {
  isOutcome,
  type MessageFailed,
  type MessageRequested,
  type OutcomeEvent,
} from '../../core/message.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import { startTwilioFake, type TwilioFake } from '../fakes/twilio-fake.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase } from '../support/mysql.ts';
import { freePort } from '../support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../support/processes.ts';
import { waitFor, waitForQuiet } from '../support/wait.ts';

test('a bridge killed mid-batch and restarted re-sends nothing a provider accepted (OTP: one more copy at most)', async (t) => {
  const tag = `crash-${uniqueSuffix()}`;
  const tenant = `tenant-${tag}`;
  const [a, b] = [await startTwilioFake(), await startTwilioFake()];
  const db = await createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-crash-'));
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'crash-test' });
  let bridge: ServiceProcess | undefined;
  t.after(async () => {
    bridge?.kill();
    await bus.close();
    await a.close();
    await b.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const provider = (name: string, fake: TwilioFake, weight: number) => ({
    name,
    type: 'twilio',
    weight,
    breaker: { volumeThreshold: 1_000, timeoutMs: 60_000 },
    options: {
      baseUrl: fake.url,
      accountSid: fake.accountSid,
      authToken: fake.authToken,
      from: '+15005550006',
    },
  });
  const configFile = join(dir, 'providers.json');
  // A takes all first attempts; B is the failover.
  writeFileSync(
    configFile,
    JSON.stringify({ providers: [provider('tw-a', a, 1_000_000), provider('tw-b', b, 1)] }),
  );
  const port = await freePort();
  const env = {
    KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
    KAFKA_GROUP_PREFIX: tag,
    MYSQL_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    PIGEON_CONFIG: configFile,
    PIGEON_SIMULATOR: 'false',
    PIGEON_RECEIPT_TIMEOUT_OTP_MS: '0',
    PORT: String(port),
  };
  const startBridgeProcess = async () => {
    const service = startServiceProcess('supplier-bridge', env);
    await waitForReady(`http://127.0.0.1:${port}/readyz`, service, 90_000);
    return service;
  };

  await bus.ensureTopics(topicSpecs(6));
  const outcomes = new Map<string, OutcomeEvent[]>();
  /** Outcomes of every tenant: other tests' leftovers that end without a provider call count too. */
  let outcomesSeen = 0;
  const observer = await bus.subscribe({
    groupId: `observer-${tag}`,
    topics: [Topics.outcomes],
    fromBeginning: false,
    handler: async (batch) => {
      outcomesSeen += batch.records.length;
      for (const record of batch.records) {
        const outcome = JSON.parse(record.value) as OutcomeEvent;
        if (!isOutcome(outcome) || outcome.tenantId !== tenant) continue;
        outcomes.set(outcome.messageId, [...(outcomes.get(outcome.messageId) ?? []), outcome]);
      }
    },
  });
  t.after(() => observer.close());

  let serial = 0;
  const publish = async (count: number, input: Partial<MessageInput>, fromBatch = false) => {
    const now = Date.now();
    const messages: MessageRequested[] = Array.from({ length: count }, () => {
      const i = serial++;
      return buildMessageRequested(
        {
          to: `+1415555${String(1000 + i)}`,
          body: `${input.class ?? 'transactional'} ${i} ${tag}`,
          ...input,
        },
        { tenantId: tenant, messageId: newId(now), now, publishTimeoutMs: 120_000, fromBatch },
      );
    });
    // One append for all: each partition's share arrives in one batch, all dispatched at once
    // (a batch waits for its slowest send, so one at a time would queue behind the hanging A).
    await bus.publish(
      LANE_TOPICS[messages[0]!.lane],
      messages.map((m) => ({ key: m.to, value: JSON.stringify(m) })),
    );
    return messages;
  };
  const copies = (message: MessageRequested) =>
    [...a.accepted, ...b.accepted].filter((m) => m.body === message.body).length;
  const settled = (messages: MessageRequested[]) => messages.every((m) => outcomes.has(m.messageId));
  /** waitFor, with the bridge's own log (warnings and errors) in the message when it times out. */
  const until = async (condition: () => boolean, timeoutMs: number, what: string) => {
    try {
      await waitFor(condition, timeoutMs, what);
    } catch (err) {
      (err as Error).message += `\n--- bridge output ---\n${bridge?.output() ?? ''}`;
      throw err;
    }
  };

  bridge = await startBridgeProcess();
  const before = [...(await publish(10, {})), ...(await publish(10, { class: 'marketing' }, true))];
  await until(() => settled(before), 60_000, 'messages before the crash settled');

  // A new consumer group starts at the beginning of the lanes, so this bridge also sees records
  // other tests left there; let it finish those before A starts hanging on everything. A leftover
  // reaching A after that would hang its lane's fetches for A's whole timeout. Expired leftovers
  // call no provider, so quiet means no request and no outcome of any tenant.
  await waitForQuiet(() => a.requests.length + b.requests.length + outcomesSeen, 3_000);

  // Now A takes every message and never answers: these are in flight when the bridge dies.
  await a.setFault({ kind: 'acceptThenHang' });
  const inFlightBulk = await publish(8, { class: 'marketing' }, true);
  const inFlightTransactional = await publish(6, {});
  // The lower lanes first: a high lane with lag pauses them (priority), so they must be at A already.
  await until(
    () => [...inFlightBulk, ...inFlightTransactional].every((m) => copies(m) === 1),
    60_000,
    'bulk and transactional messages accepted by A',
  );
  const inFlightOtp = await publish(6, { class: 'otp' });
  const inFlight = [...inFlightBulk, ...inFlightOtp, ...inFlightTransactional];
  await until(() => inFlight.every((m) => copies(m) === 1), 60_000, 'every in-flight message accepted by A');
  bridge.kill();
  await new Promise((resolve) => bridge!.child.once('exit', resolve));

  await a.setFault(undefined);
  const after = await publish(10, {});
  bridge = await startBridgeProcess();
  await until(() => settled([...inFlight, ...after]), 90_000, 'every message settled after the restart');

  for (const message of [...before, ...after]) {
    assert.equal(copies(message), 1, `${message.body}: sent exactly once`);
  }
  for (const message of [...inFlightBulk, ...inFlightTransactional]) {
    assert.equal(copies(message), 1, `${message.body}: never sent again`);
    const outcome = outcomes.get(message.messageId)![0] as MessageFailed;
    assert.equal(outcome.status, 'unknown');
    assert.equal(outcome.errorCode, 'CRASH_IN_FLIGHT');
  }
  for (const message of inFlightOtp) {
    assert.ok(copies(message) <= 2, `${message.body}: at most one more copy`);
    const outcome = outcomes.get(message.messageId)![0]!;
    assert.equal(outcome.type, 'message.submitted');
    assert.equal(outcome.type === 'message.submitted' && outcome.provider, 'tw-b');
  }
  assert.ok(
    [...outcomes.values()].every((list) => new Set(list.map((o) => o.id)).size === 1),
    'a replayed outcome is the same event, never a second one',
  );
});
