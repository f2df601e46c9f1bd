/** /v1/templates and their preview through the real app over SQLite and the in-process bus. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ProviderInfo } from '../../../routing/table.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';

const providers: ProviderInfo[] = [
  {
    name: 'cheap',
    weight: 1,
    enabled: true,
    senderId: undefined,
    prices: new Map([
      ['US', 0.0079],
      ['*', 0.02],
    ]),
  },
  {
    name: 'dear',
    weight: 1,
    enabled: true,
    senderId: undefined,
    prices: new Map([
      ['US', 0.01],
      ['TR', 0.05],
    ]),
  },
  { name: 'off', weight: 1, enabled: false, senderId: undefined, prices: new Map([['TR', 9]]) },
];

describe('/v1/templates', () => {
  let api: TestApi;
  const writer = generateApiKey();
  const reader = generateApiKey();
  const sender = generateApiKey();
  const other = generateApiKey();

  before(async () => {
    api = await startTestApi({
      keys: [
        { key: writer, tenant: 'tenant-t', scopes: ['templates:write', 'templates:read'] },
        { key: reader, tenant: 'tenant-t', scopes: ['templates:read'] },
        { key: sender, tenant: 'tenant-t', scopes: ['messages:write'] },
        { key: other, tenant: 'tenant-o', scopes: ['templates:write', 'templates:read'] },
      ],
      deps: { sendPolicy: { providers: () => providers } },
    });
  });

  after(() => api.close());

  const shipped = {
    name: 'order shipped',
    class: 'transactional',
    variants: [
      { locale: 'en', body: 'Hi {{name}}, it’s on its way — order {{order}} ships today.' },
      { locale: 'tr', body: 'Merhaba {{name}}, {{order}} numaralı siparişiniz bugün kargoda.' },
    ],
  };

  async function create(body: unknown = shipped, key = writer): Promise<{ id: string }> {
    const response = await api.call('POST', '/v1/templates', key, body);
    assert.equal(response.statusCode, 201, response.body);
    return response.json<{ id: string }>();
  }

  test('a created template is read back with its variables, listed, replaced and deleted', async () => {
    const response = await api.call('POST', '/v1/templates', writer, shipped);
    assert.equal(response.statusCode, 201);
    const created = response.json<{
      id: string;
      variables: string[];
      defaultLocale: string;
      class: string;
    }>();
    assert.equal(response.headers.location, `/v1/templates/${created.id}`);
    assert.deepEqual(created.variables, ['name', 'order']);
    assert.equal(created.defaultLocale, 'en');

    const read = await api.call('GET', `/v1/templates/${created.id}`, reader);
    assert.equal(read.statusCode, 200);
    assert.deepEqual(read.json(), created);
    const listed = await api.call('GET', '/v1/templates', reader);
    assert.ok(listed.json<{ templates: { id: string }[] }>().templates.some((t) => t.id === created.id));

    const replaced = await api.call('PUT', `/v1/templates/${created.id}`, writer, {
      ...shipped,
      name: 'shipped v2',
      defaultLocale: 'tr',
    });
    assert.equal(replaced.statusCode, 200);
    assert.equal(replaced.json<{ name: string }>().name, 'shipped v2');
    assert.equal(replaced.json<{ defaultLocale: string }>().defaultLocale, 'tr');

    assert.equal((await api.call('DELETE', `/v1/templates/${created.id}`, writer)).statusCode, 204);
    const gone = await api.call('GET', `/v1/templates/${created.id}`, reader);
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal((await api.call('DELETE', `/v1/templates/${created.id}`, writer)).statusCode, 404);
  });

  test('another tenant’s template is not found', async () => {
    const { id } = await create();
    for (const [method, url] of [
      ['GET', `/v1/templates/${id}`],
      ['DELETE', `/v1/templates/${id}`],
    ] as const) {
      assert.equal((await api.call(method, url, other)).statusCode, 404, `${method} ${url}`);
    }
    assert.equal((await api.call('POST', `/v1/templates/${id}/preview`, other, {})).statusCode, 404);
  });

  test('scopes: reading needs templates:read, writing templates:write', async () => {
    const { id } = await create();
    assert.equal((await api.call('POST', '/v1/templates', reader, shipped)).statusCode, 403);
    assert.equal((await api.call('DELETE', `/v1/templates/${id}`, reader)).statusCode, 403);
    assert.equal((await api.call('GET', '/v1/templates', sender)).statusCode, 403);
    const forbidden = await api.call('GET', `/v1/templates/${id}`, sender);
    assert.equal(forbidden.json<{ code: string }>().code, 'PIGEON_ERR_FORBIDDEN');
  });

  test('a marketing template without an opt-out instruction is refused with 422, naming the variant', async () => {
    const response = await api.call('POST', '/v1/templates', writer, {
      name: 'sale',
      class: 'marketing',
      variants: [
        { locale: 'en', body: '20% off today, {{name}}! Reply STOP to opt out' },
        { locale: 'zh-CN', body: '{{name}}，今日八折！' },
      ],
    });
    assert.equal(response.statusCode, 422);
    const problem = response.json<{ code: string; errors: { field: string }[] }>();
    assert.equal(problem.code, 'PIGEON_ERR_TEMPLATE_OPT_OUT_MISSING');
    assert.deepEqual(
      problem.errors.map((e) => e.field),
      ['/variants/1/body'],
    );
    await create({
      name: 'sale',
      class: 'marketing',
      variants: [
        { locale: 'en', body: '20% off today, {{name}}! Reply STOP to opt out' },
        { locale: 'zh-CN', body: '{{name}}，今日八折！回复退订' },
      ],
    });
  });

  test('variants with other variables, stray braces and a default locale without a variant are 400', async () => {
    for (const body of [
      { ...shipped, variants: [...shipped.variants, { locale: 'de', body: 'Hallo {{vorname}}' }] },
      { ...shipped, variants: [{ locale: 'en', body: 'Hi {{first name}}' }] },
      { ...shipped, defaultLocale: 'fr' },
    ]) {
      const response = await api.call('POST', '/v1/templates', writer, body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_VALIDATION');
    }
  });

  test('the preview renders, says what forced UCS-2 and prices each country at the dearest enabled provider', async () => {
    const { id } = await create();
    const response = await api.call('POST', `/v1/templates/${id}/preview`, reader, {
      variables: { name: 'Ana', order: 88231 },
      smartEncoding: false,
    });
    assert.equal(response.statusCode, 200, response.body);
    const preview = response.json<{
      locale: string;
      text: string;
      encoding: string;
      segments: number;
      forcedUcs2: string[];
      replaced: unknown[];
      costs: { country: string; pricePerPart: number; cost: number }[];
    }>();
    assert.equal(preview.locale, 'en');
    assert.equal(preview.text, 'Hi Ana, it’s on its way — order 88231 ships today.');
    assert.deepEqual([preview.encoding, preview.segments], ['UCS-2', 1]);
    assert.deepEqual(preview.forcedUcs2, ['’', '—']);
    assert.deepEqual(preview.replaced, []);
    assert.deepEqual(preview.costs, [
      { country: 'TR', pricePerPart: 0.05, cost: 0.05 },
      { country: 'US', pricePerPart: 0.01, cost: 0.01 },
      { country: '*', pricePerPart: 0.02, cost: 0.02 },
    ]);
  });

  test('with smart encoding the preview shows the replaced text, and parts scale the cost', async () => {
    const { id } = await create({
      name: 'long',
      class: 'transactional',
      variants: [{ locale: 'en', body: `“{{name}}” — ${'x'.repeat(160)}` }],
    });
    const plain = await api.call('POST', `/v1/templates/${id}/preview`, reader, {
      variables: { name: 'Ana' },
      countries: ['US'],
    });
    assert.deepEqual(
      [plain.json<{ encoding: string }>().encoding, plain.json<{ segments: number }>().segments],
      ['UCS-2', 3],
    );
    assert.deepEqual(plain.json<{ costs: unknown[] }>().costs, [
      { country: 'US', pricePerPart: 0.01, cost: 0.03 },
    ]);
    const smart = await api.call('POST', `/v1/templates/${id}/preview`, reader, {
      variables: { name: 'Ana' },
      countries: ['US'],
      smartEncoding: true,
    });
    const report = smart.json<{
      encoding: string;
      segments: number;
      replaced: { from: string; to: string }[];
      text: string;
    }>();
    assert.deepEqual([report.encoding, report.segments], ['GSM-7', 2]);
    assert.deepEqual(
      report.replaced.map((r) => `${r.from}${r.to}`),
      ['“"', '”"', '—-'],
    );
    assert.ok(report.text.startsWith('"Ana" - '));
  });

  test('the preview names missing and extra variables with 422 and a stable code', async () => {
    const { id } = await create();
    const response = await api.call('POST', `/v1/templates/${id}/preview`, reader, {
      variables: { name: 'Ana', coupon: 'X' },
    });
    assert.equal(response.statusCode, 422);
    const problem = response.json<{ code: string; errors: { field: string; message: string }[] }>();
    assert.equal(problem.code, 'PIGEON_ERR_TEMPLATE_VARIABLES');
    assert.deepEqual(problem.errors, [
      { field: '/variables/order', message: 'missing' },
      { field: '/variables/coupon', message: 'not in the template' },
    ]);
  });

  test('the preview of another locale renders its variant', async () => {
    const { id } = await create();
    const response = await api.call('POST', `/v1/templates/${id}/preview`, reader, {
      variables: { name: 'Ayşe', order: 7 },
      locale: 'tr-TR',
      countries: ['TR'],
    });
    const preview = response.json<{ locale: string; text: string; encoding: string; forcedUcs2: string[] }>();
    assert.equal(preview.locale, 'tr');
    assert.equal(preview.text, 'Merhaba Ayşe, 7 numaralı siparişiniz bugün kargoda.');
    assert.equal(preview.encoding, 'UCS-2');
    assert.deepEqual(preview.forcedUcs2, ['ş', 'ı']);
  });
});

describe('/v1/templates with the database down', () => {
  let api: TestApi;
  const key = generateApiKey();

  before(async () => {
    api = await startTestApi({
      keys: [{ key, tenant: 'tenant-d', scopes: ['templates:read', 'templates:write', 'messages:write'] }],
    });
    // One call while the database answers, so the key is in the authenticator's cache.
    assert.equal((await api.call('GET', '/v1/templates', key)).statusCode, 200);
    await api.store.close();
  });

  after(() => api.close());

  test('every template call, and a message by template, answers 503 problem+json', async () => {
    const id = '01JT0000000000000000000001';
    const calls: Array<[Parameters<TestApi['call']>[0], string, unknown?]> = [
      [
        'POST',
        '/v1/templates',
        { name: 'n', class: 'transactional', variants: [{ locale: 'en', body: 'Hi' }] },
      ],
      ['GET', '/v1/templates'],
      ['GET', `/v1/templates/${id}`],
      [
        'PUT',
        `/v1/templates/${id}`,
        { name: 'n', class: 'transactional', variants: [{ locale: 'en', body: 'Hi' }] },
      ],
      ['DELETE', `/v1/templates/${id}`],
      ['POST', `/v1/templates/${id}/preview`, {}],
      ['POST', '/v1/messages', { to: '+14155550123', template: id }],
    ];
    for (const [method, url, payload] of calls) {
      const res = await api.call(method, url, key, payload);
      assert.equal(res.statusCode, 503, `${method} ${url}: ${res.body}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.json<{ code: string }>().code, 'PIGEON_ERR_STORE_UNAVAILABLE', `${method} ${url}`);
    }
  });
});
