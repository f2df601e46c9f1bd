import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ALL_SCOPES, apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { buildApi } from '../../api/src/app.ts';
import type { BusRecord } from '../../core/bus/bus.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import { Markers } from '../../core/markers.ts';
import { isOutcome, type OutcomeEvent } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { Topics } from '../../core/topics.ts';
import { outboxKey, SimulatorProvider } from '../../providers/simulator.ts';
import { startBridge } from '../../supplier-bridge/src/bridge.ts';
import { Dispatcher } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import { CacheProviderGate } from '../../supplier-bridge/src/provider-gate.ts';
import { CatalogPlanner, fixedRouting } from '../../routing/planner.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { SendKeys, utcPeriods } from '../../api/src/send-policy/plan.ts';

const PUBLISH_TIMEOUT_MS = 800;

describe('API when Kafka is unreachable', () => {
  let app: FastifyInstance;
  let bus: KafkaBus;
  let store: SqliteStore;
  const cache = new MemoryCache();
  const key = generateApiKey();
  const readiness = new Readiness();

  before(async () => {
    bus = new KafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'api-bus-down-test' });
    store = new SqliteStore(':memory:');
    await store.migrate();
    await store.putApiKey(apiKeyRecord(key, 'tenant-a', ALL_SCOPES, 'test'));
    readiness.add('bus', () => bus.ping());
    app = await buildApi({
      logger: createLogger({ level: 'silent' }),
      bus,
      store,
      cache,
      registry: createRegistry('api'),
      readiness,
      providers: new Map(),
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      simulatorEnabled: false,
    });
  });

  after(async () => {
    await app.close();
    // The bound's timer is unref'd: once the bus has closed it must not hold the process 5 s more.
    await Promise.race([bus.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
    await store.close();
    await cache.close();
  });

  test('answers 503 problem+json with Retry-After within the publish timeout', async () => {
    const started = Date.now();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: { to: '+14155550123', body: 'hello' },
    });
    const elapsed = Date.now() - started;
    assert.equal(response.statusCode, 503);
    assert.match(String(response.headers['content-type']), /application\/problem\+json/);
    assert.equal(response.headers['retry-after'], '5');
    const problem = response.json<{ code: string }>();
    assert.equal(problem.code, 'PIGEON_ERR_BUS_UNAVAILABLE');
    assert.ok(elapsed < PUBLISH_TIMEOUT_MS + 1500, `answered in ${elapsed} ms`);
  });

  test('readiness reports the bus down; liveness stays up', async () => {
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.equal(ready.json<{ checks: { bus: boolean } }>().checks.bus, false);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  test('the simulator outbox does not exist when the simulator is disabled', async () => {
    const response = await app.inject({ method: 'GET', url: '/simulator/messages?to=%2B14155550123' });
    assert.equal(response.statusCode, 404);
  });

  test('an Idempotency-Key used for a refused message can be retried', async () => {
    const send = () =>
      app.inject({
        method: 'POST',
        url: '/v1/messages',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'idempotency-key': 'k1',
        },
        payload: { to: '+14155550123', body: 'hello' },
      });
    assert.equal((await send()).statusCode, 503);
    assert.equal((await send()).statusCode, 503, 'not replayed as accepted');
    assert.equal(await cache.get(Markers.idempotency('tenant-a', 'k1')), undefined);
  });

  test('a message the bus did not take gives back what it counted towards the caps', async () => {
    const to = '+14155550188';
    for (let i = 0; i < 2; i++) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/messages',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        payload: { to, body: 'hello' },
      });
      assert.equal(response.statusCode, 503);
    }
    assert.equal(await cache.get(SendKeys.recipient('hour', 'tenant-a', to)), '0');
    assert.equal(await cache.get(SendKeys.recipient('day', 'tenant-a', to)), '0');
    const { day } = utcPeriods(Date.now());
    assert.equal(await cache.get(SendKeys.spend('tenant-a', day)), '0');
  });
});

/** A broker that acknowledges far too late: the write lands, but after the API gave up on it. */
class SlowBus extends MemoryBus {
  constructor(private readonly delayMs: number) {
    super();
  }
  override async publish(topic: string, records: readonly BusRecord[]): Promise<void> {
    await sleep(this.delayMs);
    return super.publish(topic, records);
  }
}

describe('a write the bus acknowledges after the API answered 503', () => {
  test('is never sent to a provider: the bridge fails it as rejected', async () => {
    const bus = new SlowBus(PUBLISH_TIMEOUT_MS * 2);
    const cache = new MemoryCache();
    const store = new SqliteStore(':memory:');
    await store.migrate();
    const key = generateApiKey();
    await store.putApiKey(apiKeyRecord(key, 'tenant-a', ALL_SCOPES, 'test'));
    const logger = createLogger({ level: 'silent' });
    const registry = createRegistry('slow-bus');
    const provider = new SimulatorProvider('sim-a', { secret: 's', outbox: cache, logger, latencyMs: 0 });
    const dispatcher = new Dispatcher({
      planner: new CatalogPlanner(
        fixedRouting([{ adapter: provider, weight: 1, definition: { name: 'sim-a', type: 'simulator' } }]),
      ),
      gate: new CacheProviderGate(cache),
      cache,
      logger,
      registry,
      publicUrl: 'http://127.0.0.1:9',
    });
    const outcomes: string[] = [];
    await bus.ensureTopics(topicSpecs(1));
    const bridge = await startBridge({ bus, dispatcher, logger, registry, concurrency: 4 });
    const observer = await bus.subscribe({
      groupId: 'observer',
      topics: [Topics.outcomes],
      handler: async (batch) => {
        for (const r of batch.records)
          if (isOutcome(JSON.parse(r.value) as OutcomeEvent)) outcomes.push(r.value);
      },
    });
    const app = await buildApi({
      logger,
      bus,
      store,
      cache,
      registry,
      readiness: new Readiness(),
      providers: new Map(),
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      simulatorEnabled: false,
    });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/messages',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        payload: { to: '+14155550199', body: 'too late' },
      });
      assert.equal(response.statusCode, 503);
      await waitFor(() => outcomes.length === 1, 10_000, 'outcome of the late write');
      const outcome = JSON.parse(outcomes[0]!) as { type: string; status: string; errorCode: string };
      assert.equal(outcome.type, 'message.failed');
      assert.equal(outcome.status, 'rejected');
      assert.deepEqual(await cache.list(outboxKey('+14155550199')), [], 'nothing reached the provider');
    } finally {
      await app.close();
      await observer.close();
      await bridge.close();
      await dispatcher.close();
      await bus.close();
      await store.close();
      await cache.close();
    }
  });
});
