/** `/v1/admin/tenants/:tenantId/limits` over buildApi, SQLite and the in-process bus and cache. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';

const URL_B = '/v1/admin/tenants/tenant-b/limits';

describe('tenant send limits admin routes', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let api: TestApi;
  let call: TestApi['call'];
  const adminKey = generateApiKey();
  const senderKey = generateApiKey();

  before(async () => {
    api = await startTestApi({
      keys: [
        { key: adminKey, tenant: 'tenant-a', scopes: ['admin'], label: 'ops' },
        { key: senderKey, tenant: 'tenant-b', scopes: ['messages:write', 'messages:read'], label: 'app' },
      ],
    });
    ({ app, store, call } = api);
  });

  after(() => api.close());

  test('needs a key with the admin scope: a tenant cannot lift its own limits', async () => {
    assert.equal((await call('GET', URL_B, undefined)).statusCode, 401);
    const forbidden = await call('PUT', URL_B, senderKey, { ratePerSecond: 1_000_000 });
    assert.equal(forbidden.statusCode, 403);
    assert.equal(forbidden.json<{ code: string }>().code, 'PIGEON_ERR_FORBIDDEN');
    assert.equal((await call('GET', URL_B, senderKey)).statusCode, 403);
    assert.equal(await store.getTenantSendLimits('tenant-b'), undefined);
  });

  test('a tenant with nothing stored reads as the gateway defaults (nulls)', async () => {
    const response = await call('GET', '/v1/admin/tenants/tenant-c/limits', adminKey);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      tenantId: 'tenant-c',
      ratePerSecond: null,
      burst: null,
      perRecipientHour: null,
      perRecipientDay: null,
      dailySpendCap: null,
      monthlySpendCap: null,
      classes: {},
      updatedAt: null,
    });
  });

  test('refuses bad bodies by schema', async () => {
    for (const body of [
      { ratePerSecond: -1 },
      { ratePerSecond: 1.5 },
      { burst: 0 },
      { perRecipientHour: '5' },
      { dailySpendCap: -0.01 },
      { classes: { spam: { perRecipientHour: 1, perRecipientDay: 1 } } },
      { classes: { otp: { perRecipientHour: 1 } } },
      { sendsPerPhone: 3 },
    ]) {
      const response = await call('PUT', URL_B, adminKey, body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_VALIDATION', JSON.stringify(body));
    }
    assert.equal(await store.getTenantSendLimits('tenant-b'), undefined);
  });

  test('round trip: PUT replaces the limits, GET reads them, and they apply to the next send at once', async () => {
    const body = {
      ratePerSecond: 50,
      burst: 100,
      perRecipientHour: 1,
      dailySpendCap: 2.5,
      classes: { otp: { perRecipientHour: 3, perRecipientDay: null } },
    };
    const put = await call('PUT', URL_B, adminKey, body);
    assert.equal(put.statusCode, 200, put.body);
    const { updatedAt } = put.json<{ updatedAt: string }>();
    const expected = {
      tenantId: 'tenant-b',
      ratePerSecond: 50,
      burst: 100,
      perRecipientHour: 1,
      perRecipientDay: null,
      dailySpendCap: 2.5,
      monthlySpendCap: null,
      classes: { otp: { perRecipientHour: 3, perRecipientDay: null } },
      updatedAt,
    };
    assert.deepEqual(put.json(), expected);
    assert.deepEqual((await call('GET', URL_B, adminKey)).json(), expected);
    // Each body its own, or the second send would be the first's duplicate, not a capped one.
    let sent = 0;
    const sendAs = () =>
      app.inject({
        method: 'POST',
        url: '/v1/messages',
        headers: { authorization: `Bearer ${senderKey}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ to: '+14155550123', body: `hello ${++sent}` }),
      });
    assert.equal((await sendAs()).statusCode, 202);
    const capped = await sendAs();
    assert.equal(capped.statusCode, 429);
    assert.equal(capped.json<{ code: string }>().code, 'PIGEON_ERR_RECIPIENT_CAP');

    const reset = await call('PUT', URL_B, adminKey, {});
    assert.deepEqual((await call('GET', URL_B, adminKey)).json(), {
      tenantId: 'tenant-b',
      ratePerSecond: null,
      burst: null,
      perRecipientHour: null,
      perRecipientDay: null,
      dailySpendCap: null,
      monthlySpendCap: null,
      classes: {},
      updatedAt: reset.json<{ updatedAt: string }>().updatedAt,
    });
  });
});
