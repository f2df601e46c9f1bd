/** `/v1/admin/tenants/:tenantId/otp-settings` over buildApi, SQLite and the in-process bus and cache. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { MemoryBus } from '../../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { Readiness } from '../../../core/health.ts';
import { createLogger } from '../../../core/logger.ts';
import { createRegistry } from '../../../core/metrics.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { apiKeyRecord, generateApiKey } from '../api-keys.ts';
import { buildApi } from '../app.ts';

const URL_B = '/v1/admin/tenants/tenant-b/otp-settings';

describe('tenant OTP settings admin routes', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let bus: MemoryBus;
  let cache: MemoryCache;
  const adminKey = generateApiKey();
  const senderKey = generateApiKey();

  before(async () => {
    store = new SqliteStore(':memory:');
    await store.migrate();
    await store.putApiKey(apiKeyRecord(adminKey, 'tenant-a', ['admin'], 'ops'));
    await store.putApiKey(apiKeyRecord(senderKey, 'tenant-a', ['messages:write', 'messages:read'], 'app'));
    bus = new MemoryBus();
    cache = new MemoryCache({ sweepIntervalMs: 0 });
    app = await buildApi({
      logger: createLogger({ level: 'silent' }),
      bus,
      store,
      cache,
      registry: createRegistry('api'),
      readiness: new Readiness(),
      providers: new Map(),
      publishTimeoutMs: 500,
      simulatorEnabled: false,
    });
  });

  after(async () => {
    await app.close();
    await bus.close();
    await cache.close();
    await store.close();
  });

  const call = (method: 'GET' | 'PUT', url: string, key: string | undefined, payload?: unknown) =>
    app.inject({
      method,
      url,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });

  test('needs a key with the admin scope', async () => {
    assert.equal((await call('GET', URL_B, undefined)).statusCode, 401);
    const forbidden = await call('PUT', URL_B, senderKey, { allowedCountries: ['GB'], dailySpendCap: 5 });
    assert.equal(forbidden.statusCode, 403);
    assert.equal(forbidden.json<{ code: string }>().code, 'PIGEON_ERR_FORBIDDEN');
    assert.equal((await call('GET', URL_B, senderKey)).statusCode, 403);
    assert.equal(await store.getTenantOtpSettings('tenant-b'), undefined);
  });

  test('a tenant with nothing stored reads as the gateway defaults (nulls)', async () => {
    const response = await call('GET', '/v1/admin/tenants/tenant-c/otp-settings', adminKey);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      tenantId: 'tenant-c',
      allowedCountries: null,
      dailySpendCap: null,
      updatedAt: null,
    });
  });

  test('refuses bad bodies by schema', async () => {
    for (const body of [
      { allowedCountries: ['gb'], dailySpendCap: 5 },
      { allowedCountries: ['GBR'], dailySpendCap: 5 },
      { allowedCountries: [], dailySpendCap: 5 },
      { allowedCountries: ['GB', 'GB'], dailySpendCap: 5 },
      { allowedCountries: 'GB', dailySpendCap: 5 },
      { allowedCountries: ['GB'], dailySpendCap: -1 },
      { allowedCountries: ['GB'], dailySpendCap: '5' },
      { allowedCountries: ['GB'] },
      { dailySpendCap: 5 },
      { allowedCountries: ['GB'], dailySpendCap: 5, sendsPerPhone: 3 },
    ]) {
      const response = await call('PUT', URL_B, adminKey, body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_VALIDATION', JSON.stringify(body));
    }
    assert.equal(await store.getTenantOtpSettings('tenant-b'), undefined);
  });

  test('round trip: PUT stores overrides, GET reads them, nulls put the defaults back', async () => {
    const put = await call('PUT', URL_B, adminKey, { allowedCountries: ['GB', 'IE'], dailySpendCap: 2.5 });
    assert.equal(put.statusCode, 200, put.body);
    const before = Date.now();
    const { updatedAt } = put.json<{ updatedAt: string }>();
    assert.ok(Math.abs(Date.parse(updatedAt) - before) < 5_000, updatedAt);
    const expected = { tenantId: 'tenant-b', allowedCountries: ['GB', 'IE'], dailySpendCap: 2.5, updatedAt };
    assert.deepEqual(put.json(), expected);
    assert.deepEqual((await call('GET', URL_B, adminKey)).json(), expected);
    assert.deepEqual(await store.getTenantOtpSettings('tenant-b'), {
      allowedCountries: ['GB', 'IE'],
      dailySpendCap: 2.5,
      updatedAt: Date.parse(updatedAt),
    });

    const zero = await call('PUT', URL_B, adminKey, { allowedCountries: null, dailySpendCap: 0 });
    assert.equal(zero.statusCode, 200, zero.body);
    assert.deepEqual((await call('GET', URL_B, adminKey)).json<Record<string, unknown>>(), {
      ...expected,
      allowedCountries: null,
      dailySpendCap: 0,
      updatedAt: zero.json<{ updatedAt: string }>().updatedAt,
    });
    const reset = await call('PUT', URL_B, adminKey, { allowedCountries: null, dailySpendCap: null });
    assert.deepEqual((await call('GET', URL_B, adminKey)).json(), {
      ...expected,
      allowedCountries: null,
      dailySpendCap: null,
      updatedAt: reset.json<{ updatedAt: string }>().updatedAt,
    });
  });
});
