/**
 * The high lane under a full bulk backlog, on real Kafka and Redis: OTPs published after thousands
 * of bulk messages are queued go out while most of that backlog is still waiting, instead of
 * behind it. (Latency figures under a 100k backlog come from `npm run bench:bridge`.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { buildMessageRequested, type MessageInput } from '../../core/message-request.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import { isOutcome, type MessageRequested, type OutcomeEvent } from '../../core/message.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import type { ProviderAdapter } from '../../providers/provider.ts';
import type { ConfiguredProvider } from '../../providers/registry.ts';
import { createSimulator } from '../../providers/simulator.ts';
import { startBridge } from '../../supplier-bridge/src/bridge.ts';
import { fixedDispatcher } from '../support/fixed-dispatcher.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { SIMULATOR_ENV } from '../support/simulator-env.ts';
import { sleep, waitFor, waitForQuiet } from '../support/wait.ts';

const BULK = 8_000;
const OTPS = 10;

test('OTPs queued behind a bulk backlog are sent while most of the backlog still waits', async () => {
  const logger = createLogger({ level: 'warn' });
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'lane-priority', logger });
  const cache = new RedisCache(TEST_REDIS_URL);
  const registry = new Registry();
  const config = loadConfig(SIMULATOR_ENV);
  const tenant = `lanes-${uniqueSuffix()}`;
  const providers: ConfiguredProvider[] = ['sim-a', 'sim-b'].map((name) => ({
    definition: { name, type: 'simulator' },
    weight: 1,
    adapter: createSimulator(name, { latencyMs: 5, receiptDelayMs: 3_600_000 }, { config, cache, logger }),
  }));
  const dispatcher = fixedDispatcher(providers, { cache, logger, registry });
  const make = (input: MessageInput, fromBatch = false): MessageRequested => {
    const now = Date.now();
    return buildMessageRequested(input, {
      tenantId: tenant,
      messageId: newId(now),
      now,
      publishTimeoutMs: 3_600_000,
      fromBatch,
    });
  };
  const outcomes: OutcomeEvent[] = [];
  let seen = 0;
  let bridge: Awaited<ReturnType<typeof startBridge>> | undefined;
  // Before the observer subscribes: on a fresh broker its topic would not exist yet.
  await bus.ensureTopics(topicSpecs(6));
  const observer = await bus.subscribe({
    groupId: `observer-${uniqueSuffix()}`,
    topics: [Topics.outcomes],
    fromBeginning: false,
    handler: async (batch) => {
      seen += batch.records.length;
      for (const record of batch.records) {
        const outcome = JSON.parse(record.value) as OutcomeEvent;
        if (isOutcome(outcome) && outcome.tenantId === tenant) outcomes.push(outcome);
      }
    },
  });
  try {
    bridge = await startBridge({
      bus,
      dispatcher,
      logger,
      registry,
      concurrency: 64,
      groupId: `lanes-${uniqueSuffix()}`,
      fromBeginning: false,
    });
    // The new group starts at the end of the lanes once it first fetches: wait for that (and for
    // anything still in flight from an earlier test), so the backlog below is this test's own.
    await waitForQuiet(() => seen);
    const bulk = Array.from({ length: BULK }, (_, i) =>
      make({ to: `+1415555${String(1000 + (i % 9000))}`, body: `notice ${i}`, class: 'marketing' }, true),
    );
    for (let i = 0; i < bulk.length; i += 1000) {
      await bus.publish(
        LANE_TOPICS.bulk,
        bulk.slice(i, i + 1000).map((m) => ({ key: m.to, value: JSON.stringify(m) })),
      );
    }

    await waitFor(() => outcomes.length >= 200, 60_000, 'bulk draining');

    const otpIds = new Set<string>();
    for (let i = 0; i < OTPS; i++) {
      const otp = make({
        to: `+1415556${String(1000 + i)}`,
        body: `Your code is ${100000 + i}`,
        class: 'otp',
      });
      otpIds.add(otp.messageId);
      await bus.publish(LANE_TOPICS.high, [{ key: otp.to, value: JSON.stringify(otp) }]);
      await sleep(20);
    }
    await waitFor(
      () => outcomes.filter((o) => otpIds.has(o.messageId)).length >= OTPS,
      60_000,
      'every OTP submitted',
    );
    const bulkDoneWhenOtpsWent = outcomes.filter((o) => !otpIds.has(o.messageId)).length;
    assert.ok(
      bulkDoneWhenOtpsWent < BULK / 2,
      `the OTPs went out after ${bulkDoneWhenOtpsWent} of ${BULK} bulk messages, not behind the backlog`,
    );
    for (const outcome of outcomes.filter((o) => otpIds.has(o.messageId))) {
      assert.equal(outcome.type, 'message.submitted');
    }
  } finally {
    await bridge?.close();
    await observer.close();
    await dispatcher.close();
    for (const p of providers) await p.adapter.close?.();
    await bus.close();
    await cache.close();
  }
});

test('with one provider hanging on every fifth bulk send, bulk flows through the other and every OTP is submitted', async () => {
  const logger = createLogger({ level: 'error' });
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'lane-priority-hang', logger });
  const urgent = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'lane-priority-hang', logger });
  const cache = new RedisCache(TEST_REDIS_URL);
  const registry = new Registry();
  const config = loadConfig(SIMULATOR_ENV);
  const tenant = `lanes-hang-${uniqueSuffix()}`;
  const [hanging, healthy] = [`sim-hang-${tenant}`, `sim-ok-${tenant}`];
  /** Sends of the hanging provider now waiting for their timeout. */
  let hungNow = 0;
  let hungEver = 0;
  let bulkSends = 0;
  const simulator = (name: string) =>
    createSimulator(name, { latencyMs: 5, receiptDelayMs: 3_600_000 }, { config, cache, logger });
  const hangingAdapter = simulator(hanging);
  /** The simulator, except that every fifth bulk send never answers: the send timeout ends it. */
  const hangingOnBulk = (adapter: ProviderAdapter): ProviderAdapter => {
    const send: ProviderAdapter['send'] = (request, signal) => {
      if (request.messageClass === 'otp' || bulkSends++ % 5 !== 0) return adapter.send(request, signal);
      hungNow++;
      hungEver++;
      return new Promise<never>((_resolve, reject) => {
        const cut = () => {
          hungNow--;
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', cut, { once: true });
      });
    };
    return new Proxy(adapter, {
      get(target, property) {
        if (property === 'send') return send;
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  const providers: ConfiguredProvider[] = [
    {
      // Kept closed, so the hang goes on for the whole test instead of being routed around.
      definition: {
        name: hanging,
        type: 'simulator',
        breaker: { timeoutMs: 2_000, errorThresholdPercentage: 100, volumeThreshold: 1e9 },
      },
      weight: 1,
      adapter: hangingOnBulk(hangingAdapter),
    },
    { definition: { name: healthy, type: 'simulator' }, weight: 1, adapter: simulator(healthy) },
  ];
  const dispatcher = fixedDispatcher(providers, { cache, logger, registry });
  const make = (input: MessageInput, fromBatch = false): MessageRequested => {
    const now = Date.now();
    return buildMessageRequested(input, {
      tenantId: tenant,
      messageId: newId(now),
      now,
      publishTimeoutMs: 3_600_000,
      fromBatch,
    });
  };
  const outcomes = new Map<string, OutcomeEvent>();
  /** Bulk submitted through the healthy provider while a hanging send was waiting. */
  let healthyDuringHang = 0;
  let seen = 0;
  let bridge: Awaited<ReturnType<typeof startBridge>> | undefined;
  // Before the observer subscribes: on a fresh broker its topic would not exist yet.
  await bus.ensureTopics(topicSpecs(6));
  const observer = await bus.subscribe({
    groupId: `observer-${uniqueSuffix()}`,
    topics: [Topics.outcomes],
    fromBeginning: false,
    fetch: 'immediate',
    handler: async (batch) => {
      seen += batch.records.length;
      for (const record of batch.records) {
        const outcome = JSON.parse(record.value) as OutcomeEvent;
        if (!isOutcome(outcome) || outcome.tenantId !== tenant) continue;
        assert.ok(!outcomes.has(outcome.messageId), `one outcome per message (${outcome.messageId})`);
        outcomes.set(outcome.messageId, outcome);
        if (outcome.type === 'message.submitted' && outcome.provider === healthy && hungNow > 0) {
          healthyDuringHang++;
        }
      }
    },
  });
  try {
    bridge = await startBridge({
      bus,
      urgentPublisher: urgent,
      dispatcher,
      logger,
      registry,
      concurrency: 64,
      groupId: `lanes-hang-${uniqueSuffix()}`,
      fromBeginning: false,
    });
    await waitForQuiet(() => seen);
    const bulk = Array.from({ length: 3_000 }, (_, i) =>
      make({ to: `+1415555${String(1000 + (i % 9000))}`, body: `notice ${i}`, class: 'marketing' }, true),
    );
    for (let i = 0; i < bulk.length; i += 1000) {
      await bus.publish(
        LANE_TOPICS.bulk,
        bulk.slice(i, i + 1000).map((m) => ({ key: m.to, value: JSON.stringify(m) })),
      );
    }
    await waitFor(() => hungNow > 0, 60_000, 'a send hanging');
    const otps = Array.from({ length: 20 }, (_, i) =>
      make({ to: `+1415556${String(1000 + i)}`, body: `Your code is ${100000 + i}`, class: 'otp' }),
    );
    for (const otp of otps) {
      await bus.publish(LANE_TOPICS.high, [{ key: otp.to, value: JSON.stringify(otp) }]);
      await sleep(25);
    }
    await waitFor(
      () => bulk.every((m) => outcomes.has(m.messageId)) && otps.every((m) => outcomes.has(m.messageId)),
      90_000,
      'an outcome for every message',
    );

    for (const otp of otps) assert.equal(outcomes.get(otp.messageId)?.type, 'message.submitted');
    assert.ok(hungEver > 0, 'sends hung');
    assert.ok(healthyDuringHang > 0, 'bulk went through the healthy provider while sends hung');
    const bulkOutcomes = bulk.map((m) => outcomes.get(m.messageId)!);
    const viaHealthy = bulkOutcomes.filter((o) => o.type === 'message.submitted' && o.provider === healthy);
    const unknown = bulkOutcomes.filter((o) => o.type === 'message.failed' && o.status === 'unknown');
    // A timed-out bulk send may have gone out: never sent again, it ends `unknown`; all the rest
    // is submitted.
    assert.equal(unknown.length, hungEver, 'only the hung sends end unknown');
    assert.equal(bulkOutcomes.filter((o) => o.type === 'message.submitted').length, bulk.length - hungEver);
    assert.ok(viaHealthy.length > 0);
  } finally {
    await bridge?.close();
    await observer.close();
    await dispatcher.close();
    for (const p of providers) await p.adapter.close?.();
    await urgent.close();
    await bus.close();
    await cache.close();
  }
});
