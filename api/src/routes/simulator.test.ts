import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { MemoryBus } from '../../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { Readiness } from '../../../core/health.ts';
import { createLogger } from '../../../core/logger.ts';
import { createRegistry } from '../../../core/metrics.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { ProviderError } from '../../../providers/provider.ts';
import { simulatorFaultKey, SimulatorProvider } from '../../../providers/simulator.ts';
import { buildApi } from '../app.ts';

const logger = createLogger({ level: 'silent' });

async function api(cache: MemoryCache, store: SqliteStore, simulatorEnabled: boolean) {
  return buildApi({
    logger,
    bus: new MemoryBus(),
    store,
    cache,
    registry: createRegistry('api'),
    readiness: new Readiness(),
    providers: new Map(),
    publishTimeoutMs: 1000,
    simulatorEnabled,
  });
}

describe('simulator fault routes', () => {
  const cache = new MemoryCache();
  let store: SqliteStore;
  let app: FastifyInstance;

  before(async () => {
    store = new SqliteStore(':memory:');
    await store.migrate();
    app = await api(cache, store, true);
  });

  after(async () => {
    await app.close();
    await store.close();
    await cache.close();
  });

  test('PUT stores the fault where a simulator in another process reads it, and it takes effect', async () => {
    const before = Date.now();
    const response = await app.inject({
      method: 'PUT',
      url: '/simulator/providers/sim-a/fault',
      payload: { fault: 'down', forMs: 60_000 },
    });
    assert.equal(response.statusCode, 200);
    const view = response.json<{ provider: string; fault: string; until: number }>();
    assert.equal(view.provider, 'sim-a');
    assert.equal(view.fault, 'down');
    assert.ok(view.until >= before + 60_000 && view.until <= Date.now() + 60_000);
    const stored = JSON.parse((await cache.get(simulatorFaultKey('sim-a'))) ?? 'null') as { fault: string };
    assert.equal(stored.fault, 'down');

    const sim = new SimulatorProvider('sim-a', { latencyMs: 0, secret: 's', outbox: cache, logger });
    await assert.rejects(
      sim.send(
        {
          messageId: '01J0000000000000000000000A',
          tenantId: 't',
          to: '+14155550123',
          from: undefined,
          body: 'hi',
          segments: 1,
          messageClass: 'transactional',
          country: 'US',
          expiresAt: new Date(Date.now() + 60_000).toISOString(),
          callbackUrl: 'http://127.0.0.1:1/v1/receipts/sim-a',
        },
        AbortSignal.timeout(1000),
      ),
      (err: unknown) => err instanceof ProviderError && err.rawCode === 'ECONNREFUSED' && err.sent === 'no',
    );
    await sim.close();
  });

  test('PUT keeps slowMs and retryAfterMs; without forMs the fault has no end', async () => {
    const response = await app.inject({
      method: 'PUT',
      url: '/simulator/providers/sim-b/fault',
      payload: { fault: 'throttle', retryAfterMs: 2500 },
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(JSON.parse((await cache.get(simulatorFaultKey('sim-b'))) ?? 'null'), {
      fault: 'throttle',
      retryAfterMs: 2500,
    });
  });

  test('DELETE clears the fault', async () => {
    await cache.set(simulatorFaultKey('sim-c'), '{"fault":"reject"}');
    const response = await app.inject({ method: 'DELETE', url: '/simulator/providers/sim-c/fault' });
    assert.equal(response.statusCode, 204);
    assert.equal(await cache.get(simulatorFaultKey('sim-c')), undefined);
  });

  for (const [name, url, payload] of [
    ['an unknown fault', '/simulator/providers/sim-a/fault', { fault: 'explode' }],
    ['an unknown field', '/simulator/providers/sim-a/fault', { fault: 'down', forever: true }],
    ['a negative duration', '/simulator/providers/sim-a/fault', { fault: 'down', forMs: -5 }],
    ['a string where a number belongs', '/simulator/providers/sim-a/fault', { fault: 'slow', slowMs: '100' }],
    ['a bad provider name', '/simulator/providers/%20bad/fault', { fault: 'down' }],
  ] as const) {
    test(`PUT refuses ${name} with problem+json`, async () => {
      const response = await app.inject({ method: 'PUT', url, payload });
      assert.equal(response.statusCode, 400);
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_VALIDATION');
    });
  }

  test('the routes do not exist when the simulator is disabled', async () => {
    const disabled = await api(cache, store, false);
    try {
      const response = await disabled.inject({
        method: 'PUT',
        url: '/simulator/providers/sim-a/fault',
        payload: { fault: 'down' },
      });
      assert.equal(response.statusCode, 404);
    } finally {
      await disabled.close();
    }
  });
});
