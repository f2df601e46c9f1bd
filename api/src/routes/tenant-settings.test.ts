/** `/v1/admin/tenants/:tenantId/otp-settings` over buildApi, SQLite and the in-process bus and cache. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';

const URL_B = '/v1/admin/tenants/tenant-b/otp-settings';

describe('tenant OTP settings admin routes', () => {
  let store: SqliteStore;
  let api: TestApi;
  let call: TestApi['call'];
  const adminKey = generateApiKey();
  const senderKey = generateApiKey();

  before(async () => {
    api = await startTestApi({
      keys: [
        { key: adminKey, tenant: 'tenant-a', scopes: ['admin'], label: 'ops' },
        { key: senderKey, tenant: 'tenant-a', scopes: ['messages:write', 'messages:read'], label: 'app' },
      ],
    });
    ({ store, call } = api);
  });

  after(() => api.close());

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
