/**
 * `/v1/admin/tenants/:tenantId/messaging-policy`, and the frequency caps and dedup it sets on
 * `POST /v1/messages` and `/v1/messages/batch`, over buildApi, SQLite and the in-process bus and cache.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { apiKeyRecord, generateApiKey } from '../api-keys.ts';

const policyUrl = (tenantId: string) => `/v1/admin/tenants/${tenantId}/messaging-policy`;

describe('messaging policy', () => {
  let store: SqliteStore;
  let api: TestApi;
  let call: TestApi['call'];
  const adminKey = generateApiKey();
  const keys = new Map<string, string>();

  const keyOf = async (tenantId: string) => {
    let key = keys.get(tenantId);
    if (!key) {
      key = generateApiKey();
      keys.set(tenantId, key);
      await store.putApiKey(apiKeyRecord(key, tenantId, ['messages:write', 'messages:read'], 'app'));
    }
    return key;
  };
  const send = async (tenantId: string, body: Record<string, unknown>) =>
    call('POST', '/v1/messages', await keyOf(tenantId), { to: '+14155550123', ...body });

  before(async () => {
    api = await startTestApi({ keys: [{ key: adminKey, tenant: 'ops', scopes: ['admin'], label: 'ops' }] });
    ({ store, call } = api);
  });

  after(() => api.close());

  test('needs the admin scope, and reads as the defaults before anything is set', async () => {
    const forbidden = await call('PUT', policyUrl('tenant-a'), await keyOf('tenant-a'), {
      marketingPerDay: 100,
    });
    assert.equal(forbidden.statusCode, 403);
    const response = await call('GET', policyUrl('tenant-a'), adminKey);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      tenantId: 'tenant-a',
      quietHours: null,
      marketingPerDay: null,
      marketingPerWeek: null,
      dedupWindowSeconds: null,
      smartEncoding: false,
      updatedAt: null,
    });
  });

  test('refuses malformed windows and caps as problem+json', async () => {
    for (const body of [
      { quietHours: { start: '25:00', end: '08:00' } },
      { quietHours: { start: '21:00', end: '21:00' } },
      { quietHours: { start: '21:00', end: '08:00', byWeekday: { funday: null } } },
      {
        quietHours: { start: '21:00', end: '08:00', byWeekday: { sunday: { start: '09:00', end: '09:00' } } },
      },
      { marketingPerDay: -1 },
      { dedupWindowSeconds: 1.5 },
      { smartEncoding: 'yes' },
    ]) {
      const response = await call('PUT', policyUrl('tenant-bad'), adminKey, body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.match(response.headers['content-type'] ?? '', /application\/problem\+json/);
    }
    assert.equal(await store.getTenantMessagingPolicy('tenant-bad'), undefined);
  });

  test('round trip: PUT replaces the policy and GET reads it back, smartEncoding included', async () => {
    const body = {
      quietHours: { start: '21:00', end: '08:00', byWeekday: { sunday: null } },
      marketingPerDay: 2,
      marketingPerWeek: 5,
      dedupWindowSeconds: 60,
      smartEncoding: true,
    };
    const put = await call('PUT', policyUrl('tenant-rt'), adminKey, body);
    assert.equal(put.statusCode, 200, put.body);
    const { updatedAt } = put.json<{ updatedAt: string }>();
    assert.deepEqual((await call('GET', policyUrl('tenant-rt'), adminKey)).json(), {
      tenantId: 'tenant-rt',
      ...body,
      updatedAt,
    });
  });

  test('an identical send within the window is answered with the first id, flagged, and not published', async () => {
    const first = await send('tenant-dup', { body: 'Your order shipped' });
    assert.equal(first.statusCode, 202, first.body);
    const { id } = first.json<{ id: string }>();
    // Whitespace differences are the same message.
    const again = await send('tenant-dup', { body: 'Your  order shipped ' });
    assert.equal(again.statusCode, 202);
    assert.deepEqual(again.json(), {
      id,
      status: 'queued',
      segments: 1,
      encoding: 'GSM-7',
      replaced: [],
      forcedUcs2: [],
      duplicate: true,
    });
    // Another number, another body or another tenant is another message.
    for (const other of [
      await send('tenant-dup', { body: 'Your order shipped', to: '+14155550124' }),
      await send('tenant-dup', { body: 'Your order shipped!' }),
      await send('tenant-dup-2', { body: 'Your order shipped' }),
    ]) {
      assert.equal(other.statusCode, 202);
      assert.notEqual(other.json<{ id: string }>().id, id);
      assert.equal(other.json<{ duplicate?: boolean }>().duplicate, undefined);
    }
    // A batch repeating the body to the number is answered with the first id too.
    const batch = await call('POST', '/v1/messages/batch', await keyOf('tenant-dup'), {
      body: 'Your order shipped',
      class: 'transactional',
      messages: [{ to: '+14155550123' }, { to: '+14155550125' }],
    });
    assert.equal(batch.statusCode, 202, batch.body);
    const { results } = batch.json<{ results: { id: string; duplicate?: boolean }[] }>();
    assert.equal(results[0]!.id, id);
    assert.equal(results[0]!.duplicate, true);
    assert.equal(results[1]!.duplicate, undefined);
  });

  test('otp traffic is never deduplicated, and a tenant may turn dedup off', async () => {
    const otp = [
      await send('tenant-otp', { class: 'otp', body: 'Code 1234' }),
      await send('tenant-otp', { class: 'otp', body: 'Code 1234' }),
    ];
    assert.notEqual(otp[0]!.json<{ id: string }>().id, otp[1]!.json<{ id: string }>().id);
    await call('PUT', policyUrl('tenant-off'), adminKey, { dedupWindowSeconds: 0 });
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++)
      ids.add((await send('tenant-off', { body: 'Same again' })).json<{ id: string }>().id);
    assert.equal(ids.size, 3);
  });

  test('a marketing cap of two a day refuses the third with 429 PIGEON_ERR_FREQUENCY_CAPPED and Retry-After', async () => {
    await call('PUT', policyUrl('tenant-cap'), adminKey, { marketingPerDay: 2, marketingPerWeek: 10 });
    for (let i = 0; i < 2; i++) {
      assert.equal((await send('tenant-cap', { class: 'marketing', body: `Offer ${i}` })).statusCode, 202);
    }
    const capped = await send('tenant-cap', { class: 'marketing', body: 'Offer 3' });
    assert.equal(capped.statusCode, 429);
    assert.match(capped.headers['content-type'] ?? '', /application\/problem\+json/);
    assert.equal(capped.json<{ code: string }>().code, 'PIGEON_ERR_FREQUENCY_CAPPED');
    const retryAfter = Number(capped.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 86_400 + 3_600, `Retry-After ${retryAfter}`);
    // Transactional traffic to the number is not capped.
    assert.equal((await send('tenant-cap', { body: 'Your receipt' })).statusCode, 202);
  });

  test('the cap holds when twelve marketing sends to one number arrive at once', async () => {
    await call('PUT', policyUrl('tenant-burst'), adminKey, { marketingPerDay: 4 });
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => send('tenant-burst', { class: 'marketing', body: `Deal ${i}` })),
    );
    assert.equal(responses.filter((r) => r.statusCode === 202).length, 4);
    assert.equal(responses.filter((r) => r.statusCode === 429).length, 8);
  });
});
