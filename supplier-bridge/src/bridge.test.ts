import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { buildMessageRequested, type MessageInput } from '../../core/message-request.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import type { Bus, BusRecord } from '../../core/bus/bus.ts';
import { sleep, waitFor } from '../../test/support/wait.ts';
import type { ProviderAdapter, SendRequest } from '../../providers/provider.ts';
import { HIGH_LAG_REPORT_TTL_MS, startBridge } from './bridge.ts';
import { fixedDispatcher } from '../../test/support/fixed-dispatcher.ts';
import { PigeonError } from '../../core/errors.ts';
import { Markers } from '../../core/markers.ts';

const logger = createLogger({ level: 'silent' });

/** A message of `input`'s class (and so lane) to one recipient. */
const lanedMessage = (input: Partial<MessageInput>) =>
  buildMessageRequested(
    { to: '+14155550123', body: 'x', ...input },
    { tenantId: 't', messageId: newId(), now: Date.now(), publishTimeoutMs: 60_000 },
  );

/** Closes each in turn: what consumes before what it consumes from. */
async function closeInOrder(...closables: Array<{ close(): Promise<unknown> }>): Promise<void> {
  for (const closable of closables) await closable.close();
}

/** A promise the test opens when it chooses. */
function latch(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** The ids of messages with a `message.submitted` outcome on `bus`, as they come. */
async function submittedOn(bus: Bus) {
  const submitted = new Set<string>();
  const observer = await bus.subscribe({
    groupId: 'observer',
    topics: [Topics.outcomes],
    handler: async (batch) => {
      for (const record of batch.records) {
        const event = JSON.parse(record.value) as { type: string; messageId: string };
        if (event.type === 'message.submitted') submitted.add(event.messageId);
      }
    },
  });
  return { submitted, observer };
}

/** A dispatcher over one fake provider that records every send and answers once `beforeAnswer` has. */
function recordingDispatcher(
  { cache, registry }: { cache: MemoryCache; registry: Registry },
  timeoutMs: number,
  beforeAnswer: (request: SendRequest) => Promise<void>,
) {
  const sent: SendRequest[] = [];
  const provider: ProviderAdapter = {
    name: 'p',
    type: 'fake',
    send: async (request) => {
      sent.push(request);
      await beforeAnswer(request);
      return { providerMessageId: `pm-${request.messageId}` };
    },
    parseReceipt: async () => [],
  };
  const dispatcher = fixedDispatcher(
    [{ adapter: provider, weight: 1, definition: { name: 'p', type: 'fake' } }],
    { cache, logger, registry },
    { breaker: { timeoutMs } },
  );
  return { sent, dispatcher };
}

test('a high-lane backlog report that is never followed up stops holding the lower lanes', async (t) => {
  // One record per batch, so the first OTP's batch reports the second one as lag.
  const bus = new MemoryBus({ logger, maxBatchSize: 1 });
  await bus.ensureTopics(topicSpecs(1));
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const registry = new Registry();
  const { opened: held, open: release } = latch();
  // The first OTP's provider call hangs: its batch never finishes, so no newer report comes.
  const { sent, dispatcher } = recordingDispatcher({ cache, registry }, 600_000, async (request) => {
    if (request.body.includes('hold')) await held;
  });
  const clock = { now: Date.now() };
  const bridge = await startBridge({
    bus,
    dispatcher,
    logger,
    registry,
    concurrency: 4,
    now: () => clock.now,
  });
  t.after(async () => {
    release();
    await closeInOrder(bridge, dispatcher, bus, cache);
  });
  /** Publishes messages of one lane in one append. */
  const publish = async (...inputs: Partial<MessageInput>[]) => {
    const messages = inputs.map((input) =>
      buildMessageRequested(
        { to: '+14155550123', body: 'x', ...input },
        { tenantId: 't', messageId: newId(), now: Date.now(), publishTimeoutMs: 60_000 },
      ),
    );
    await bus.publish(
      LANE_TOPICS[messages[0]!.lane],
      messages.map((m) => ({ key: m.to, value: JSON.stringify(m) })),
    );
  };
  const bulkPaused = async () =>
    (await registry.getSingleMetric('pigeon_bridge_lane_paused')!.get()).values.find(
      (v) => v.labels.lane === 'bulk',
    )?.value;

  await publish(
    { class: 'otp', body: 'Your code is 111111 hold' },
    { class: 'otp', body: 'Your code is 222222' },
  );
  await waitFor(() => sent.length === 1, 2_000, 'the first OTP at the provider');
  await publish({ class: 'marketing', body: 'Spring sale' });
  await sleep(1_500);
  assert.equal(await bulkPaused(), 1, 'the high lane reported a backlog: bulk waits');
  assert.ok(!sent.some((r) => r.body === 'Spring sale'), 'and is not sent');

  clock.now += HIGH_LAG_REPORT_TTL_MS + 1;
  await waitFor(
    () => sent.some((r) => r.body === 'Spring sale'),
    3_000,
    'bulk sent once the report is stale',
  );
  assert.equal(await bulkPaused(), 0);
  assert.ok(!sent.some((r) => r.body.includes('222222')), 'the high partition itself is still stuck');
});

test('while OTPs hold the lower lanes to one pass at a time, a bulk pass waiting on its provider does not hold up the next', async (t) => {
  const bus = new MemoryBus({ logger });
  await bus.ensureTopics(topicSpecs(1));
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const registry = new Registry();
  const { opened: hanging, open: answer } = latch();
  const { sent, dispatcher } = recordingDispatcher({ cache, registry }, 600_000, async (request) => {
    if (request.body === 'hangs') await hanging;
  });
  const bridge = await startBridge({
    bus,
    dispatcher,
    logger,
    registry,
    concurrency: 4,
    // Any lateness closes the gate to its floor of one while the high lane is active.
    lowerLaneGate: { floor: 1, targetDelayMs: -1, activeWindowMs: 600_000, windowMs: 20 },
  });
  const { submitted, observer } = await submittedOn(bus);
  t.after(async () => {
    answer();
    await closeInOrder(observer, bridge, dispatcher, bus, cache);
  });
  const gateLimit = async () =>
    (await registry.getSingleMetric('pigeon_bridge_lower_lane_limit')!.get()).values[0]?.value;
  const otp = lanedMessage({ class: 'otp', body: 'Your code is 123456' });
  await bus.publish(LANE_TOPICS.high, [{ key: otp.to, value: JSON.stringify(otp) }]);
  await waitFor(async () => (await gateLimit()) === 1, 2_000, 'the gate down to one lower-lane pass');

  const slow = lanedMessage({ class: 'marketing', body: 'hangs', to: '+14155550101' });
  const next = lanedMessage({ class: 'marketing', body: 'goes', to: '+14155550102' });
  await bus.publish(
    LANE_TOPICS.bulk,
    [slow, next].map((m) => ({ key: m.to, value: JSON.stringify(m) })),
  );
  await waitFor(() => sent.some((r) => r.body === 'goes'), 2_000, 'the second bulk message at the provider');
  assert.ok(
    sent.some((r) => r.body === 'hangs'),
    'while the first still waits for its answer',
  );
  // Outcomes go out per batch, once every pass of it ended.
  answer();
  await waitFor(
    () => submitted.has(slow.messageId) && submitted.has(next.messageId),
    2_000,
    'both submitted once the first is answered',
  );
});

test("an OTP's outcome goes out through its own publisher while the bulk outcomes' produce is stuck", async (t) => {
  const bus = new MemoryBus({ logger });
  await bus.ensureTopics(topicSpecs(1));
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const registry = new Registry();
  const { opened: stuck, open: unstick } = latch();
  // The bridge's main producer: its requests for the outcomes topic never come back (a broker
  // slow on a large acks=all request), while the lane records still reach the bus.
  const slowProducer: Bus = new Proxy(bus, {
    get(target, property) {
      if (property === 'publish') {
        return async (topic: string, records: readonly BusRecord[]) => {
          if (topic === Topics.outcomes) await stuck;
          return target.publish(topic, records);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const provider: ProviderAdapter = {
    name: 'p',
    type: 'fake',
    send: async (request) => ({ providerMessageId: `pm-${request.messageId}` }),
    parseReceipt: async () => [],
  };
  const dispatcher = fixedDispatcher(
    [{ adapter: provider, weight: 1, definition: { name: 'p', type: 'fake' } }],
    { cache, logger, registry },
  );
  const bridge = await startBridge({
    bus: slowProducer,
    urgentPublisher: bus,
    dispatcher,
    logger,
    registry,
    concurrency: 4,
  });
  const { submitted, observer } = await submittedOn(bus);
  t.after(async () => {
    unstick();
    await closeInOrder(observer, bridge, dispatcher, bus, cache);
  });
  const bulk = lanedMessage({ class: 'marketing', body: 'Spring sale' });
  await bus.publish(LANE_TOPICS.bulk, [{ key: bulk.to, value: JSON.stringify(bulk) }]);
  const otp = lanedMessage({ class: 'otp', body: 'Your code is 123456' });
  await bus.publish(LANE_TOPICS.high, [{ key: otp.to, value: JSON.stringify(otp) }]);

  await waitFor(() => submitted.has(otp.messageId), 5_000, "the OTP's submission on the outcomes topic");
  assert.ok(!submitted.has(bulk.messageId), "the bulk message's outcome is still in its stuck produce");
  unstick();
  await waitFor(() => submitted.has(bulk.messageId), 5_000, 'and follows once the produce is done');
});

/** A cache whose chosen writes fail, as a Redis timeout under load fails one pass of a batch. */
class CutCache extends MemoryCache {
  cutSet: ((key: string) => boolean) | undefined;
  override async set(...args: Parameters<MemoryCache['set']>): Promise<boolean> {
    if (this.cutSet?.(args[0])) throw new PigeonError('PIGEON_ERR_CACHE_UNAVAILABLE', 'cut off');
    return super.set(...args);
  }
}

test('a batch whose pass fails is replayed only once its other passes have ended: none of them goes out twice', async (t) => {
  const bus = new MemoryBus({ logger });
  await bus.ensureTopics(topicSpecs(1));
  const cache = new CutCache({ sweepIntervalMs: 0 });
  const registry = new Registry();
  // A provider slow to answer this one: its pass is still in flight when the other fails.
  const { sent, dispatcher } = recordingDispatcher({ cache, registry }, 60_000, async (request) => {
    if (request.body === 'slow') await sleep(1_000);
  });
  const bridge = await startBridge({ bus, dispatcher, logger, registry, concurrency: 4 });
  t.after(async () => {
    await closeInOrder(bridge, dispatcher, bus, cache);
  });
  const [slow, failing] = (['slow', 'fails'] as const).map((body, i) =>
    buildMessageRequested(
      { to: `+1415555012${i}`, body, class: 'transactional' },
      { tenantId: 't', messageId: newId(), now: Date.now(), publishTimeoutMs: 60_000 },
    ),
  );
  // The second pass's result cannot be stored once (the cache timed out), so the batch fails
  // while the first pass still waits for its provider; the bus redelivers the batch.
  let cuts = 1;
  cache.cutSet = (key) => key === Markers.result(failing!.messageId, 'send:0') && cuts-- > 0;
  await bus.publish(
    LANE_TOPICS.normal,
    [slow!, failing!].map((m) => ({ key: m.to, value: JSON.stringify(m) })),
  );

  const ended = new Set<string>();
  const observer = await bus.subscribe({
    groupId: 'observer',
    topics: [Topics.outcomes],
    handler: async (batch) => {
      for (const record of batch.records)
        ended.add((JSON.parse(record.value) as { messageId: string }).messageId);
    },
  });
  t.after(() => observer.close());
  await waitFor(
    () => ended.has(slow!.messageId) && ended.has(failing!.messageId),
    10_000,
    'an outcome for each message',
  );
  await sleep(1_500); // a second send of the slow one shows up too
  assert.equal(sent.filter((r) => r.messageId === slow!.messageId).length, 1, 'the slow one sent once');
  assert.equal(sent.filter((r) => r.messageId === failing!.messageId).length, 1, 'the failed one sent once');
});

test('a bridge for the high lane alone sends codes and leaves the other lanes to the bridges that consume them', async (t) => {
  const bus = new MemoryBus({ logger });
  await bus.ensureTopics(topicSpecs(1));
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const registry = new Registry();
  const { sent, dispatcher } = recordingDispatcher({ cache, registry }, 5_000, async () => {});
  const urgent = await startBridge({ bus, dispatcher, logger, registry, concurrency: 4, lanes: ['high'] });
  t.after(async () => {
    await urgent.close();
    await dispatcher.close();
    await bus.close();
    await cache.close();
  });
  const bulk = lanedMessage({ class: 'marketing', body: 'Spring sale' });
  const otp = lanedMessage({ class: 'otp', body: 'Your code is 123456' });
  await bus.publish(LANE_TOPICS.bulk, [{ key: bulk.to, value: JSON.stringify(bulk) }]);
  await bus.publish(LANE_TOPICS.high, [{ key: otp.to, value: JSON.stringify(otp) }]);

  await waitFor(() => sent.some((r) => r.messageId === otp.messageId), 5_000, 'the code sent');
  await sleep(200);
  assert.deepEqual(
    sent.map((r) => r.messageId),
    [otp.messageId],
    'the bulk message waits for a bridge of its lane',
  );

  const rest = await startBridge({
    bus,
    dispatcher,
    logger,
    registry: new Registry(),
    concurrency: 4,
    lanes: ['normal', 'bulk', 'delay'],
  });
  t.after(() => rest.close());
  await waitFor(() => sent.some((r) => r.messageId === bulk.messageId), 5_000, 'the bulk message sent');
  assert.equal(sent.length, 2);
});
