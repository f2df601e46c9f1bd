/**
 * The send policy on `POST /v1/messages` and `/v1/messages/batch`, and the tenant limits admin
 * routes, over buildApi, SQLite and the in-process bus and cache.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../../core/config.ts';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import type { ProviderInfo } from '../../../routing/table.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { apiKeyRecord, generateApiKey } from '../api-keys.ts';
import { sendPolicySettings } from '../send-policy/limits.ts';

/** GB parts cost ten times the rest, at the dearer of two providers; a disabled one is dearer still. */
const PROVIDERS: ProviderInfo[] = [
  { name: 'cheap', weight: 1, enabled: true, senderId: undefined, prices: new Map([['*', 0.01]]) },
  {
    name: 'dear',
    weight: 1,
    enabled: true,
    senderId: undefined,
    prices: new Map([
      ['GB', 0.1],
      ['*', 0.005],
    ]),
  },
  { name: 'off', weight: 1, enabled: false, senderId: undefined, prices: new Map([['GB', 9]]) },
];

describe('send policy on the message endpoints', () => {
  let store: SqliteStore;
  let registry: Registry;
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

  before(async () => {
    api = await startTestApi({
      keys: [{ key: adminKey, tenant: 'ops', scopes: ['admin'], label: 'ops' }],
      deps: { sendPolicy: { settings: sendPolicySettings(loadConfig({})), providers: () => PROVIDERS } },
    });
    ({ store, registry, call } = api);
  });

  after(() => api.close());

  // Each send its own body: identical ones within the dedup window would be one message.
  let sent = 0;
  const send = async (tenantId: string, body: Record<string, unknown>) =>
    call('POST', '/v1/messages', await keyOf(tenantId), { body: `hello ${++sent}`, ...body });
  const refusedCount = async (reason: string, messageClass: string) => {
    const metric = (await registry.getMetricsAsJSON()).find(
      (m) => m.name === 'pigeon_api_send_refused_total',
    );
    const values = (metric as { values?: { value: number; labels: Record<string, string> }[] } | undefined)
      ?.values;
    return values?.find((v) => v.labels.reason === reason && v.labels.class === messageClass)?.value ?? 0;
  };

  test('refuses an otp to a premium-rate number, a US 900 number and an unlisted country, each with its code', async () => {
    for (const [to, status, code] of [
      ['+449098790879', 422, 'PIGEON_ERR_NUMBER_TYPE_REFUSED'],
      ['+19005550123', 422, 'PIGEON_ERR_NUMBER_TYPE_REFUSED'],
      ['+2348031234567', 403, 'PIGEON_ERR_COUNTRY_NOT_ALLOWED'],
    ] as const) {
      const response = await send('tenant-dest', { to, class: 'otp', body: 'Your code is 123456' });
      assert.equal(response.statusCode, status, `${to}: ${response.body}`);
      assert.equal(response.json<{ code: string }>().code, code, to);
      assert.match(response.headers['content-type'] ?? '', /application\/problem\+json/);
    }
    const alert = await send('tenant-dest', { to: '+449098790879', class: 'alert' });
    assert.equal(alert.json<{ code: string }>().code, 'PIGEON_ERR_NUMBER_TYPE_REFUSED');
    assert.match(
      alert.json<{ detail: string }>().detail,
      /premium rate number, which cannot receive alert messages/,
    );
    assert.equal(await refusedCount('number_type', 'otp'), 2);
    assert.equal(await refusedCount('country', 'otp'), 1);
    assert.equal(await refusedCount('number_type', 'alert'), 1);
    // Transactional messages are not held to the code rules, and a mobile number passes for codes.
    assert.equal((await send('tenant-dest', { to: '+2348031234567' })).statusCode, 202);
    assert.equal((await send('tenant-dest', { to: '+447400123456', class: 'otp' })).statusCode, 202);
  });

  test('twelve sends to one number: the hourly cap refuses the last two with 429 and Retry-After', async () => {
    const responses = [];
    for (let i = 0; i < 12; i++) responses.push(await send('tenant-twelve', { to: '+14155550123' }));
    assert.deepEqual(
      responses.map((r) => r.statusCode),
      [...Array<number>(10).fill(202), 429, 429],
    );
    const refused = responses[11]!;
    assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_RECIPIENT_CAP');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter > 3_500 && retryAfter <= 3_600, `Retry-After ${retryAfter}`);
    assert.equal(await refusedCount('recipient_cap', 'transactional'), 2);
    // Another number, and the same number for another tenant, are not affected.
    assert.equal((await send('tenant-twelve', { to: '+14155550124' })).statusCode, 202);
    assert.equal((await send('tenant-other', { to: '+14155550123' })).statusCode, 202);
  });

  test('fifty concurrent sends against a per-recipient cap of five send exactly five', async () => {
    const put = await call('PUT', '/v1/admin/tenants/tenant-fifty/limits', adminKey, { perRecipientHour: 5 });
    assert.equal(put.statusCode, 200, put.body);
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => send('tenant-fifty', { to: '+14155550123' })),
    );
    assert.equal(responses.filter((r) => r.statusCode === 202).length, 5);
    assert.equal(responses.filter((r) => r.statusCode === 429).length, 45);
  });

  test("the tenant's rate limit answers 429 PIGEON_ERR_RATE_LIMITED with Retry-After once its burst is spent", async () => {
    await call('PUT', '/v1/admin/tenants/tenant-rate/limits', adminKey, { ratePerSecond: 1, burst: 3 });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await send('tenant-rate', { to: `+1415555020${i}` }));
    assert.deepEqual(
      statuses.map((r) => r.statusCode),
      [202, 202, 202, 429],
    );
    assert.equal(statuses[3]!.json<{ code: string }>().code, 'PIGEON_ERR_RATE_LIMITED');
    assert.equal(statuses[3]!.headers['retry-after'], '1');
  });

  test('the daily spend cap is priced per country from the route table', async () => {
    // A cap of 0.25 a day. A US part costs 0.01 (the dearest `*` price), a GB part 0.1 (the dearest
    // enabled provider's GB price): five US and two GB messages fit exactly, a third GB does not.
    // At the flat fallback of 0.05 the five US messages alone would have spent it all.
    await call('PUT', '/v1/admin/tenants/tenant-spend/limits', adminKey, { dailySpendCap: 0.25 });
    for (let i = 0; i < 5; i++) {
      const us = await send('tenant-spend', { to: `+1415555030${i}` });
      assert.equal(us.statusCode, 202, `US send ${i}: ${us.body}`);
    }
    const gb = [];
    for (let i = 0; i < 3; i++) gb.push(await send('tenant-spend', { to: `+44740012345${i}` }));
    assert.deepEqual(
      gb.map((r) => r.statusCode),
      [202, 202, 429],
    );
    const refused = gb[2]!;
    assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_SPEND_CAP');
    const untilMidnight = Math.ceil(
      (Date.parse(new Date().toISOString().slice(0, 10)) + 86_400_000 - Date.now()) / 1000,
    );
    assert.ok(
      Math.abs(Number(refused.headers['retry-after']) - untilMidnight) <= 2,
      'Retry-After: next UTC midnight',
    );
    // A reached cap closes the day, whatever the next message would cost.
    const last = await send('tenant-spend', { to: '+14155550399' });
    assert.equal(last.json<{ code: string }>().code, 'PIGEON_ERR_SPEND_CAP');
    assert.equal(await refusedCount('spend_cap', 'transactional'), 2);
  });

  test('a batch reports each refused recipient in its item and sends the rest', async () => {
    await call('PUT', '/v1/admin/tenants/tenant-batch/limits', adminKey, { perRecipientHour: 2 });
    const response = await call('POST', '/v1/messages/batch', await keyOf('tenant-batch'), {
      body: 'notice',
      class: 'otp',
      messages: [
        { to: '+14155550123' },
        { to: '+14155550123' },
        { to: '+14155550123' },
        { to: '+449098790879' },
        { to: 'nope' },
      ],
    });
    assert.equal(response.statusCode, 202, response.body);
    const result = response.json<{
      accepted: number;
      rejected: number;
      results: { index: number; status: string; code?: string }[];
    }>();
    assert.equal(result.accepted, 2);
    assert.equal(result.rejected, 3);
    assert.deepEqual(
      result.results.map((r) => [r.index, r.status, r.code]),
      [
        [0, 'queued', undefined],
        [1, 'queued', undefined],
        [2, 'rejected', 'PIGEON_ERR_RECIPIENT_CAP'],
        [3, 'rejected', 'PIGEON_ERR_NUMBER_TYPE_REFUSED'],
        [4, 'rejected', 'PIGEON_ERR_INVALID_NUMBER'],
      ],
    );
  });

  test("per-class caps win over the tenant's: marketing to one number once an hour", async () => {
    await call('PUT', '/v1/admin/tenants/tenant-class/limits', adminKey, {
      classes: { marketing: { perRecipientHour: 1, perRecipientDay: null } },
    });
    assert.equal((await send('tenant-class', { to: '+14155550123', class: 'marketing' })).statusCode, 202);
    const second = await send('tenant-class', { to: '+14155550123', class: 'marketing' });
    assert.equal(second.json<{ code: string }>().code, 'PIGEON_ERR_RECIPIENT_CAP');
    assert.equal((await send('tenant-class', { to: '+14155550123' })).statusCode, 202);
  });
});

describe('send policy without its cache', () => {
  test('fails closed: single and batch sends answer 503 PIGEON_ERR_CACHE_UNAVAILABLE', async () => {
    const key = generateApiKey();
    const { app, cache, close } = await startTestApi({
      keys: [{ key, tenant: 'tenant-a', scopes: ['messages:write'], label: 'app' }],
    });
    await cache.close();
    try {
      const post = (url: string, payload: unknown) =>
        app.inject({
          method: 'POST',
          url,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          payload: JSON.stringify(payload),
        });
      for (const response of [
        await post('/v1/messages', { to: '+14155550123', body: 'hello' }),
        await post('/v1/messages/batch', { body: 'hello', messages: [{ to: '+14155550123' }] }),
      ]) {
        assert.equal(response.statusCode, 503, response.body);
        assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_CACHE_UNAVAILABLE');
      }
    } finally {
      await close();
    }
  });
});
