/**
 * Two supplier bridges as separate processes, on real Kafka, MariaDB and Redis, under a steady
 * OTP load (plus bulk traffic) routed to a Twilio fake in this process, so "the provider" outlives
 * the bridges. One bridge is SIGKILLed; the survivor must take its high-lane partitions over.
 *
 * Asserted: every OTP reaches the provider, none published after the kill twice, none in flight
 * at the kill more than twice (an OTP's class allows one resend of an ambiguous send). Measured
 * and printed, not asserted (timing on a shared machine is not a fact): the longest gap between
 * consecutive OTPs at the provider and the longest publish-to-provider delay of an OTP around the
 * kill. BRIDGE_KILL_GAP_AFTER_S lengthens the observation after the kill (default 12 s: twice the session timeout).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { newId } from '../../core/ids.ts';
import type { MessageRequested } from '../../core/message.ts';
import { buildMessageRequested } from '../../core/message-request.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { LANE_TOPICS } from '../../core/topics.ts';
import { startTwilioFake } from '../fakes/twilio-fake.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { gatewayGroups, startGroupsAtEnd } from '../support/kafka-offsets.ts';
import { createTestDatabase } from '../support/mysql.ts';
import { freePort } from '../support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../support/processes.ts';
import { sleep, waitFor } from '../support/wait.ts';

const OTP_PER_SECOND = 20;
const BULK_PER_SECOND = 20;
const STEADY_BEFORE_KILL_MS = 3_000;
const AFTER_KILL_MS = Number(process.env.BRIDGE_KILL_GAP_AFTER_S ?? 12) * 1_000;

test('a SIGKILLed bridge hands its OTP partitions to the survivor; no OTP lost, none sent twice after the kill', async (t) => {
  const tag = `gap-${uniqueSuffix()}`;
  const tenant = `tenant-${tag}`;
  const fake = await startTwilioFake();
  const db = await createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-gap-'));
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'gap-test' });
  const bridges: ServiceProcess[] = [];
  let loading = true;
  t.after(async () => {
    loading = false;
    for (const bridge of bridges) bridge.kill();
    await bus.close();
    await fake.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const configFile = join(dir, 'providers.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      providers: [
        {
          name: 'tw',
          type: 'twilio',
          breaker: { volumeThreshold: 1_000_000, timeoutMs: 60_000 },
          options: {
            baseUrl: fake.url,
            accountSid: fake.accountSid,
            authToken: fake.authToken,
            from: '+15005550006',
          },
        },
      ],
    }),
  );
  await bus.ensureTopics(topicSpecs(6));
  await startGroupsAtEnd(TEST_KAFKA_BROKERS, gatewayGroups(tag));

  const startBridge = async () => {
    const port = await freePort();
    const bridge = startServiceProcess('supplier-bridge', {
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_GROUP_PREFIX: tag,
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_CONFIG: configFile,
      PIGEON_SIMULATOR: 'false',
      PIGEON_RECEIPT_TIMEOUT_OTP_MS: '0',
      PORT: String(port),
    });
    bridges.push(bridge);
    await waitForReady(`http://127.0.0.1:${port}/readyz`, bridge, 90_000);
    return bridge;
  };
  const [victim] = await Promise.all([startBridge(), startBridge()]);

  // When each OTP reached the provider, by body (polled: the fake records no time of its own).
  const arrivals = new Map<string, number[]>();
  let seen = 0;
  const poll = setInterval(() => {
    const at = Date.now();
    for (; seen < fake.accepted.length; seen++) {
      const body = fake.accepted[seen]!.body;
      arrivals.set(body, [...(arrivals.get(body) ?? []), at]);
    }
  }, 10);
  t.after(() => clearInterval(poll));

  let serial = 0;
  const published: Array<{ message: MessageRequested; at: number }> = [];
  const publish = async (cls: 'otp' | 'marketing') => {
    const now = Date.now();
    const i = serial++;
    const message = buildMessageRequested(
      // A short life: these records stay in the shared topics, and a test that later reads them
      // with a new group expires them instead of sending hundreds to its own fake.
      { to: `+1415${String(5_000_000 + i)}`, body: `${cls} ${i} ${tag}`, class: cls, ttlSeconds: 90 },
      { tenantId: tenant, messageId: newId(now), now, publishTimeoutMs: 120_000, fromBatch: cls !== 'otp' },
    );
    await bus.publish(LANE_TOPICS[message.lane], [{ key: message.to, value: JSON.stringify(message) }]);
    if (cls === 'otp') published.push({ message, at: now });
  };
  const load = async (cls: 'otp' | 'marketing', perSecond: number) => {
    const started = Date.now();
    for (let n = 0; loading; n++) {
      await publish(cls);
      await sleep(Math.max(0, started + ((n + 1) * 1_000) / perSecond - Date.now()));
    }
  };
  const loads = Promise.all([load('otp', OTP_PER_SECOND), load('marketing', BULK_PER_SECOND)]);

  await sleep(STEADY_BEFORE_KILL_MS);
  const killedAt = Date.now();
  victim.kill();
  await sleep(AFTER_KILL_MS);
  loading = false;
  await loads;

  const bodies = published.map(({ message }) => message.body);
  try {
    await waitFor(() => bodies.every((body) => arrivals.has(body)), 60_000, 'every OTP at the provider');
  } catch (err) {
    (err as Error).message += `\n--- survivor output ---\n${bridges[1]!.output()}`;
    throw err;
  }
  await sleep(1_000); // a late duplicate shows up too

  const firstArrival = (body: string) => arrivals.get(body)![0]!;
  const times = published
    .map(({ message }) => firstArrival(message.body))
    .filter((at) => at >= killedAt - 1_000)
    .sort((a, b) => a - b);
  let gapMs = 0;
  for (let i = 1; i < times.length; i++) gapMs = Math.max(gapMs, times[i]! - times[i - 1]!);
  const delays = published
    .filter(({ at }) => at >= killedAt - 1_000)
    .map(({ message, at }) => firstArrival(message.body) - at);
  const worstDelayMs = Math.max(...delays);
  const overTenSeconds = delays.filter((ms) => ms > 10_000).length;
  console.log(
    JSON.stringify({
      measure: 'bridge-kill-gap',
      otps: published.length,
      longestGapMs: gapMs,
      worstOtpDelayMs: worstDelayMs,
      otpsDelayedOver10s: overTenSeconds,
    }),
  );

  for (const { message, at } of published) {
    const copies = arrivals.get(message.body)!.length;
    if (at > killedAt) assert.equal(copies, 1, `${message.body}: published after the kill, sent once`);
    else assert.ok(copies <= 2, `${message.body}: at most one more copy`);
  }
});
