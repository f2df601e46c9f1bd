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
import { apiKeyRecord, generateApiKey } from '../api-keys.ts';
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

/** A key of `scopes`, stored: its `Authorization` header. */
async function keyWith(store: SqliteStore, scopes: string[]): Promise<{ authorization: string }> {
  const key = generateApiKey();
  await store.putApiKey(apiKeyRecord(key, 'default', scopes, 'test'));
  return { authorization: `Bearer ${key}` };
}

describe('simulator fault routes', () => {
  const cache = new MemoryCache();
  let store: SqliteStore;
  let app: FastifyInstance;
  let headers: { authorization: string };

  before(async () => {
    store = new SqliteStore(':memory:');
    await store.migrate();
    app = await api(cache, store, true);
    headers = await keyWith(store, ['simulator']);
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
      headers,
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
      headers,
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
    const response = await app.inject({ method: 'DELETE', url: '/simulator/providers/sim-c/fault', headers });
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
      const response = await app.inject({ method: 'PUT', url, headers, payload });
      assert.equal(response.statusCode, 400);
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_VALIDATION');
    });
  }

  test('the routes do not exist when the simulator is disabled', async () => {
    const disabled = await api(cache, store, false);
    try {
      for (const [method, url] of [
        ['PUT', '/simulator/providers/sim-a/fault'],
        ['DELETE', '/simulator/providers/sim-a/fault'],
        ['GET', '/simulator/messages?to=%2B14155550123'],
        ['POST', '/simulator/replies'],
      ] as const) {
        const response = await disabled.inject({ method, url, headers, payload: { fault: 'down' } });
        assert.equal(response.statusCode, 404, `${method} ${url}`);
      }
    } finally {
      await disabled.close();
    }
  });
});

describe('who may use the simulator routes', () => {
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

  const calls = [
    ['GET', '/simulator/messages?to=%2B14155550123', undefined],
    ['PUT', '/simulator/providers/sim-a/fault', { fault: 'down', forMs: 1000 }],
    ['DELETE', '/simulator/providers/sim-a/fault', undefined],
    [
      'POST',
      '/simulator/replies',
      { provider: 'sim-a', from: '+14155550100', to: '+14155550123', body: 'ACK 1' },
    ],
  ] as const;

  test('without a key every route answers 401, and nothing is changed', async () => {
    for (const [method, url, payload] of calls) {
      const response = await app.inject({ method, url, ...(payload ? { payload } : {}) });
      assert.equal(response.statusCode, 401, `${method} ${url}`);
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_UNAUTHORIZED');
    }
    assert.equal(await cache.get(simulatorFaultKey('sim-a')), undefined);
  });

  test('a key without the simulator or admin scope gets 403', async () => {
    const headers = await keyWith(store, ['messages:write', 'messages:read', 'pii:read', 'alerts:write']);
    for (const [method, url, payload] of calls) {
      const response = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
      assert.equal(response.statusCode, 403, `${method} ${url}`);
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_FORBIDDEN');
    }
    assert.equal(await cache.get(simulatorFaultKey('sim-a')), undefined);
  });

  for (const scope of ['simulator', 'admin']) {
    test(`a key with the ${scope} scope reads the outbox and sets faults`, async () => {
      const headers = await keyWith(store, [scope]);
      const outbox = await app.inject({
        method: 'GET',
        url: '/simulator/messages?to=%2B14155550123',
        headers,
      });
      assert.equal(outbox.statusCode, 200);
      assert.deepEqual(outbox.json(), { messages: [] });
      const fault = await app.inject({
        method: 'PUT',
        url: '/simulator/providers/sim-a/fault',
        headers,
        payload: { fault: 'down', forMs: 1000 },
      });
      assert.equal(fault.statusCode, 200);
      const cleared = await app.inject({
        method: 'DELETE',
        url: '/simulator/providers/sim-a/fault',
        headers,
      });
      assert.equal(cleared.statusCode, 204);
    });
  }
});
