/**
 * The monitor remembers and judges from its first minute, on the real Kafka, MariaDB and Redis:
 * - a provider that never delivered anything is called dead by the floor — health 0 on
 *   `provider.health` and one `below-floor` alert — by a monitor that has no baseline at all;
 * - the baselines a monitor learnt are in MariaDB when it stops, and a new monitor instance (the
 *   Redis lease passing to it) judges a drop at once, well inside its own warm-up.
 * Events are published straight onto the topics the monitor reads; windows are tuned to seconds.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { Baselines, baselineKey } from '../../alerting/baseline.ts';
import type { AlertingSetup } from '../../alerting/config.ts';
import { defaultRules } from '../../alerting/default-rules.ts';
import type { AlertNotification } from '../../alerting/notification.ts';
import type { Notifier } from '../../alerting/notifier.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageSubmitted, ReceiptReceived } from '../../core/message.ts';
import { HealthBoard } from '../../core/provider-health.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { Topics } from '../../core/topics.ts';
import { HealthModel } from '../../monitor/src/health-model.ts';
import { LEADER_KEY } from '../../monitor/src/leader.ts';
import { type RunningMonitor, startMonitor } from '../../monitor/src/monitor.ts';
import { Traffic } from '../../monitor/src/traffic.ts';
import { followProviderHealth } from '../../routing/health-feed.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase } from '../support/mysql.ts';
import { sleep, waitFor } from '../support/wait.ts';

class RecordingNotifier implements Notifier {
  readonly sent: AlertNotification[] = [];
  async notify(notification: AlertNotification): Promise<void> {
    this.sent.push(notification);
  }
}

const suffix = uniqueSuffix();
const GOOD = `good-${suffix}`;
const DEAD = `dead-${suffix}`;
/** Long enough that judging a drop sooner can only come from a kept baseline. */
const WARMUP_MS = 20_000;
const logger = createLogger({ level: 'silent' });
const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'monitor-memory-test', logger });
const board = new HealthBoard();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let store: MysqlStore;
let feed: { close(): Promise<void> };
let pump: NodeJS.Timeout;
const caches: RedisCache[] = [];
/** Share of GOOD's messages that get a delivered receipt. */
let goodDelivers = 1;
/** A third provider, for the replicas test: its share of messages delivered (0 before it starts). */
const LATE = `late-${suffix}`;
let lateDelivers: number | undefined;

function models() {
  const baselines = new Baselines({ warmupMs: WARMUP_MS, minIntervalMs: 1_000 });
  return {
    baselines,
    traffic: new Traffic({ receiptGraceMs: 1_000, bucketMs: 1_000, horizonMs: 120_000 }),
    health: new HealthModel({
      baselines,
      windowsMs: { delivered_rate: [5_000, 10_000], otp_conversion_rate: [10_000] },
      floorWindowsMs: { delivered_rate: [5_000, 10_000], otp_conversion_rate: [10_000] },
      floors: loadConfig({}).monitor.floors,
      minSamples: 10,
      refreshMs: 2_000,
    }),
  };
}

async function monitorInstance(name: string, notifier: Notifier, m = models()) {
  const setup: AlertingSetup = {
    channels: ['ops'],
    policies: [],
    layers: {
      defaults: defaultRules().filter((r) => r.id === 'below-floor'),
      config: [
        {
          id: 'delivered-rate-drop',
          metric: 'delivered_rate',
          window: '10s',
          belowBaseline: 0.6,
          minSamples: 10,
          for: '2s',
          clearFor: '3s',
          severity: 'critical',
        },
      ],
    },
    defaultChannels: ['ops'],
    canary: undefined,
  };
  // Both instances compete for one lease in Redis: the second acts once the first released it.
  const cache = new RedisCache(TEST_REDIS_URL, { keyPrefix: `monitor-memory-${suffix}:` });
  caches.push(cache);
  const monitor = await startMonitor({
    bus,
    logger,
    registry: new Registry(),
    settings: { ...loadConfig({}).monitor, tickMs: 1_000, baselineSnapshotMs: 1_000 },
    setup,
    notifier,
    store,
    baselineStore: store,
    cache,
    models: m,
    accept: (record) => {
      const provider = (JSON.parse(record.value) as { provider?: unknown }).provider;
      return provider === GOOD || provider === DEAD || provider === LATE;
    },
    groupId: `monitor-memory-${name}-${suffix}`,
    instance: name,
  });
  return { monitor, models: m };
}

before(async () => {
  db = await createTestDatabase();
  store = new MysqlStore(db.url, { connectionLimit: 4 });
  await store.migrate();
  await bus.ensureTopics(topicSpecs(6));
  feed = await followProviderHealth(bus, board, logger, `monitor-memory-test-${suffix}`);
  // 20 messages a second to each provider in GB; GOOD's receipts come 200 ms later, DEAD never sends one.
  pump = setInterval(() => {
    const outcomes: Array<{ key: string; value: string }> = [];
    const receipts: Array<{ key: string; value: string }> = [];
    for (const provider of lateDelivers === undefined ? [GOOD, DEAD] : [GOOD, DEAD, LATE]) {
      for (let i = 0; i < 2; i++) {
        const messageId = newId();
        const submitted: MessageSubmitted = {
          ...eventBase(messageId, 'tenant'),
          type: 'message.submitted',
          provider,
          providerMessageId: `p-${messageId}`,
          attempt: 1,
          segments: 1,
          cost: 0.01,
          latencyMs: 50,
          country: 'GB',
          class: 'transactional',
        };
        outcomes.push({ key: messageId, value: JSON.stringify(submitted) });
        const delivers = provider === GOOD ? goodDelivers : provider === LATE ? lateDelivers! : 0;
        if (Math.random() < delivers) {
          const receipt: ReceiptReceived = {
            ...eventBase(messageId, 'tenant'),
            type: 'receipt.received',
            provider,
            providerMessageId: submitted.providerMessageId,
            status: 'delivered',
            providerStatus: 'DELIVRD',
          };
          receipts.push({ key: messageId, value: JSON.stringify(receipt) });
        }
      }
    }
    void bus.publish(Topics.outcomes, outcomes);
    setTimeout(() => void bus.publish(Topics.receipts, receipts), 200);
  }, 100);
});

after(async () => {
  clearInterval(pump);
  await sleep(500); // the last receipts are published 200 ms after their submissions
  await feed?.close();
  await Promise.all(caches.map((c) => c.close()));
  await bus.close();
  await store?.close();
  await db?.drop();
});

let first: RunningMonitor | undefined;
const firstNotifier = new RecordingNotifier();
let firstModels: ReturnType<typeof models>;
const goodKey = baselineKey('delivered_rate', { provider: GOOD, country: 'GB' }, 10_000);

test('a fresh monitor calls a provider that never delivered anything dead, by its floor, with one alert', async () => {
  ({ monitor: first, models: firstModels } = await monitorInstance('first', firstNotifier));
  const started = Date.now();
  await waitFor(
    () => board.snapshot().some((v) => v.provider === DEAD && v.health === 0),
    30_000,
    'DEAD at 0',
  );
  const tookMs = Date.now() - started;
  assert.ok(tookMs < WARMUP_MS, `judged after ${tookMs} ms, inside the warm-up: no baseline did it`);
  assert.match(
    board.snapshot().find((v) => v.provider === DEAD)!.reason,
    /against the floor, no baseline yet/,
  );
  await waitFor(() => firstNotifier.sent.some((n) => n.kind === 'firing'), 15_000, 'the floor alert');
  assert.equal(board.health(GOOD, 'GB'), 1);
  const firing = firstNotifier.sent.filter((n) => n.kind === 'firing');
  assert.deepEqual(
    firing.map((n) => [n.ruleId, n.labels.provider]),
    [['below-floor', DEAD]],
  );
});

test('a new monitor instance continues from the stored baselines: it judges a drop without warming up', async () => {
  // The first monitor learns GOOD's normal, keeps it in MariaDB, and stops.
  await waitFor(
    () => firstModels.baselines.get(goodKey) !== undefined,
    WARMUP_MS + 20_000,
    'a warm baseline',
  );
  assert.ok(first!.alerting.isLeader);
  await first!.close();
  const stored = (await store.listBaselines()).find((b) => b.key === goodKey);
  assert.ok(stored && stored.sum / stored.weight > 0.9, `stored ${JSON.stringify(stored)}`);

  const secondNotifier = new RecordingNotifier();
  const { monitor: second, models: secondModels } = await monitorInstance('second', secondNotifier);
  try {
    const started = Date.now();
    assert.ok(secondModels.baselines.get(goodKey)! > 0.9, 'warm from the first tick');
    goodDelivers = 0.2;
    await waitFor(
      () => secondNotifier.sent.some((n) => n.kind === 'firing' && n.labels.provider === GOOD),
      WARMUP_MS,
      'the drop judged by the second monitor',
    );
    const tookMs = Date.now() - started;
    assert.ok(tookMs < WARMUP_MS, `alerted after ${tookMs} ms, inside its own warm-up`);
    assert.equal(secondNotifier.sent.find((n) => n.labels.provider === GOOD)!.ruleId, 'delivered-rate-drop');
    await waitFor(() => board.health(GOOD, 'GB') < 0.6, 10_000, 'GOOD degraded on provider.health');
    assert.match(
      board.snapshot().find((v) => v.provider === GOOD)!.reason,
      /against a baseline of (9\d|100) %/,
    );
    // The floor incident the first monitor opened was taken over, not raised again.
    assert.equal(
      secondNotifier.sent.filter((n) => n.kind === 'firing' && n.labels.provider === DEAD).length,
      0,
    );
  } finally {
    goodDelivers = 1;
    await second.close();
  }
});

test('replicas: the leader dies mid-run and a replica started after it had learnt takes over, judging at once', async () => {
  const lateKey = baselineKey('delivered_rate', { provider: LATE, country: 'GB' }, 10_000);
  lateDelivers = 1;
  const leaderNotifier = new RecordingNotifier();
  const { monitor: leader, models: leaderModels } = await monitorInstance('leader', leaderNotifier);
  const replicaNotifier = new RecordingNotifier();
  let replica: RunningMonitor | undefined;
  try {
    await waitFor(() => leaderModels.baselines.get(lateKey) !== undefined, WARMUP_MS + 20_000, 'warm');
    // A snapshot written once it was warm (an earlier one may hold it still warming up).
    const storedWarm = async () => {
      const kept = new Baselines({ warmupMs: WARMUP_MS, minIntervalMs: 1_000 });
      const rows = await store.listBaselines();
      kept.restore(
        rows.map((r) => ({ key: r.key, sum: r.sum, weight: r.weight, at: r.observedAt })),
        Date.now(),
      );
      return kept.get(lateKey) !== undefined;
    };
    await waitFor(storedWarm, 5_000, 'the leader’s snapshot of a warm baseline');
    // A replica joins (a rolling deploy): it reads what the leader kept, and stands by.
    let replicaModels: ReturnType<typeof models>;
    ({ monitor: replica, models: replicaModels } = await monitorInstance('replica', replicaNotifier));
    const joined = Date.now();
    assert.ok(replicaModels.baselines.get(lateKey)! > 0.9, 'warm from the leader’s snapshot');
    await replica.tick();
    assert.equal(replica.alerting.isLeader, false);

    // The leader dies holding its lease: stopped, with the lease left to run out as a killed
    // process leaves it.
    await leader.close();
    const lease = new RedisCache(TEST_REDIS_URL, { keyPrefix: `monitor-memory-${suffix}:` });
    caches.push(lease);
    await lease.set(LEADER_KEY, 'leader', { ttlMs: 5_000 });
    lateDelivers = 0.2;

    await waitFor(
      () => replicaNotifier.sent.some((n) => n.kind === 'firing' && n.labels.provider === LATE),
      WARMUP_MS,
      'the replica alerting on LATE’s drop',
    );
    const tookMs = Date.now() - joined;
    assert.ok(replica.alerting.isLeader);
    assert.ok(tookMs < WARMUP_MS, `alerted ${tookMs} ms after joining, inside its own warm-up`);
    assert.deepEqual(
      replicaNotifier.sent.filter((n) => n.kind === 'firing').map((n) => [n.ruleId, n.labels.provider]),
      [['delivered-rate-drop', LATE]],
      'one alert, and none repeated for the incidents it took over',
    );
    assert.equal(
      leaderNotifier.sent.filter((n) => n.labels.provider === LATE).length,
      0,
      'the dead leader said nothing about it',
    );
  } finally {
    lateDelivers = undefined;
    await leader.close().catch(() => undefined);
    await replica?.close();
  }
});
