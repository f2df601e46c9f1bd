/**
 * POST /v1/messages and /v1/messages/batch: the encoding answer, smart encoding (the tenant's
 * setting and the request's override) and sending by template, through the real app over SQLite
 * and the in-process bus.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Subscription } from '../../../core/bus/bus.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { SEND_TOPICS } from '../../../core/topics.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';

const CURLY = `We’ve received your payment — order 88231 is being packed and ships tomorrow ${'x'.repeat(60)}`;
const STRAIGHT = CURLY.replace('’', "'").replace('—', '-');

interface Accepted {
  id: string;
  encoding: string;
  segments: number;
  replaced: { from: string; to: string; count: number }[];
  forcedUcs2: string[];
}

describe('messages: encoding and templates', () => {
  let api: TestApi;
  let lanes: Subscription;
  const published: MessageRequested[] = [];
  const smartKey = generateApiKey();
  const plainKey = generateApiKey();
  const templatesKey = generateApiKey();
  const asked: string[] = [];

  before(async () => {
    api = await startTestApi({
      keys: [
        { key: smartKey, tenant: 'tenant-smart', scopes: ['messages:write'] },
        { key: plainKey, tenant: 'tenant-plain', scopes: ['messages:write'] },
        { key: templatesKey, tenant: 'tenant-plain', scopes: ['templates:write'] },
      ],
      deps: {
        publishTimeoutMs: 1000,
        smartEncoding: async (tenantId) => {
          asked.push(tenantId);
          return tenantId === 'tenant-smart';
        },
      },
    });
    lanes = await api.bus.subscribe({
      groupId: 'bridge',
      topics: SEND_TOPICS,
      handler: async (batch) => {
        for (const r of batch.records) published.push(JSON.parse(r.value) as MessageRequested);
      },
    });
  });

  after(async () => {
    await lanes.close();
    await api.close();
  });

  async function publishedFor(id: string): Promise<MessageRequested> {
    for (let i = 0; i < 200; i++) {
      const found = published.find((m) => m.messageId === id);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`message ${id} not on a lane`);
  }

  test('a tenant that allows it gets look-alikes replaced: the answer says which, the provider gets the clean text', async () => {
    const response = await api.call('POST', '/v1/messages', smartKey, { to: '+14155550123', body: CURLY });
    assert.equal(response.statusCode, 202, response.body);
    const accepted = response.json<Accepted>();
    assert.deepEqual(
      {
        encoding: accepted.encoding,
        segments: accepted.segments,
        replaced: accepted.replaced,
        forcedUcs2: accepted.forcedUcs2,
      },
      {
        encoding: 'GSM-7',
        segments: 1,
        replaced: [
          { from: '’', to: "'", count: 1 },
          { from: '—', to: '-', count: 1 },
        ],
        forcedUcs2: [],
      },
    );
    const event = await publishedFor(accepted.id);
    assert.equal(event.body, STRAIGHT);
    assert.deepEqual([event.encoding, event.segments], ['GSM-7', 1]);
  });

  test('a tenant that does not allow it sends the text as given, and learns what forced UCS-2', async () => {
    const response = await api.call('POST', '/v1/messages', plainKey, { to: '+14155550123', body: CURLY });
    const accepted = response.json<Accepted>();
    assert.deepEqual([accepted.encoding, accepted.segments], ['UCS-2', 3]);
    assert.deepEqual(accepted.forcedUcs2, ['’', '—']);
    assert.deepEqual(accepted.replaced, []);
    assert.equal((await publishedFor(accepted.id)).body, CURLY);
  });

  test('the request’s smartEncoding overrides the tenant’s setting either way, without asking for it', async () => {
    asked.length = 0;
    const on = await api.call('POST', '/v1/messages', plainKey, {
      to: '+14155550123',
      body: CURLY,
      smartEncoding: true,
    });
    assert.equal(on.json<Accepted>().encoding, 'GSM-7');
    const off = await api.call('POST', '/v1/messages', smartKey, {
      to: '+14155550123',
      body: CURLY,
      smartEncoding: false,
    });
    assert.equal(off.json<Accepted>().encoding, 'UCS-2');
    assert.deepEqual(asked, []);
  });

  test('an emoji keeps the text UCS-2: nothing is replaced and the emoji is named', async () => {
    const response = await api.call('POST', '/v1/messages', smartKey, {
      to: '+14155550123',
      body: 'It’s here 📦',
    });
    const accepted = response.json<Accepted>();
    assert.deepEqual([accepted.encoding, accepted.replaced, accepted.forcedUcs2], ['UCS-2', [], ['📦']]);
    assert.equal((await publishedFor(accepted.id)).body, 'It’s here 📦');
  });

  test('each batch item answers with its own encoding', async () => {
    const response = await api.call('POST', '/v1/messages/batch', smartKey, {
      body: CURLY,
      messages: [{ to: '+14155550123' }, { to: '+14155550124', body: 'Grüße 😀' }, { to: 'bad' }],
    });
    assert.equal(response.statusCode, 202, response.body);
    const { results } = response.json<{ results: (Partial<Accepted> & { status: string })[] }>();
    assert.deepEqual(
      results.map((r) => [r.status, r.encoding, r.segments, r.forcedUcs2?.length, r.replaced?.length]),
      [
        ['queued', 'GSM-7', 1, 0, 2],
        ['queued', 'UCS-2', 1, 1, 0],
        ['rejected', undefined, undefined, undefined, undefined],
      ],
    );
  });

  describe('by template', () => {
    let templateId: string;
    let marketingId: string;

    before(async () => {
      const created = await api.call('POST', '/v1/templates', templatesKey, {
        name: 'code',
        class: 'transactional',
        variants: [
          { locale: 'en', body: 'Hi {{name}}, your order {{order}} has shipped.' },
          { locale: 'es', body: 'Hola {{name}}, tu pedido {{order}} ha sido enviado.' },
        ],
      });
      templateId = created.json<{ id: string }>().id;
      const marketing = await api.call('POST', '/v1/templates', templatesKey, {
        name: 'sale',
        class: 'marketing',
        variants: [{ locale: 'en', body: 'Sale today, {{name}}! Reply STOP to opt out' }],
      });
      marketingId = marketing.json<{ id: string }>().id;
    });

    test('a message names a template, variables and a locale instead of a body', async () => {
      const response = await api.call('POST', '/v1/messages', plainKey, {
        to: '+14155550123',
        template: templateId,
        variables: { name: 'Ana', order: 88231 },
        locale: 'es-MX',
      });
      assert.equal(response.statusCode, 202, response.body);
      const event = await publishedFor(response.json<Accepted>().id);
      assert.equal(event.body, 'Hola Ana, tu pedido 88231 ha sido enviado.');
      assert.equal(event.class, 'transactional');
    });

    test('the template’s class is the message’s: marketing rides the bulk lane', async () => {
      const response = await api.call('POST', '/v1/messages', plainKey, {
        to: '+14155550123',
        template: marketingId,
        variables: { name: 'Ana' },
      });
      const event = await publishedFor(response.json<Accepted>().id);
      assert.deepEqual([event.class, event.lane], ['marketing', 'bulk']);
      const conflicting = await api.call('POST', '/v1/messages', plainKey, {
        to: '+14155550123',
        template: marketingId,
        variables: { name: 'Ana' },
        class: 'transactional',
      });
      assert.equal(conflicting.statusCode, 400);
    });

    test('missing and extra variables are a 422 problem naming them', async () => {
      const response = await api.call('POST', '/v1/messages', plainKey, {
        to: '+14155550123',
        template: templateId,
        variables: { name: 'Ana', coupon: 'X' },
      });
      assert.equal(response.statusCode, 422);
      assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
      const problem = response.json<{ code: string; detail: string; errors: { field: string }[] }>();
      assert.equal(problem.code, 'PIGEON_ERR_TEMPLATE_VARIABLES');
      assert.deepEqual(
        problem.errors.map((e) => e.field),
        ['/variables/order', '/variables/coupon'],
      );
      assert.match(problem.detail, /missing: order; not in the template: coupon/);
    });

    test('another tenant’s template is unknown, and a body beside a template is refused', async () => {
      const unknown = await api.call('POST', '/v1/messages', smartKey, {
        to: '+14155550123',
        template: templateId,
        variables: { name: 'Ana', order: 1 },
      });
      assert.equal(unknown.statusCode, 422);
      assert.equal(unknown.json<{ code: string }>().code, 'PIGEON_ERR_UNKNOWN_TEMPLATE');
      const both = await api.call('POST', '/v1/messages', plainKey, {
        to: '+14155550123',
        body: 'hi',
        template: templateId,
      });
      assert.equal(both.statusCode, 400);
      const neither = await api.call('POST', '/v1/messages', plainKey, { to: '+14155550123' });
      assert.equal(neither.statusCode, 400);
    });

    test('a batch by template: shared variables, each item’s own over them, wrong items refused alone', async () => {
      const response = await api.call('POST', '/v1/messages/batch', plainKey, {
        template: templateId,
        variables: { order: 'A-1' },
        messages: [
          { to: '+14155550123', variables: { name: 'Ana' } },
          { to: '+14155550124', variables: { name: 'Bo', order: 'B-2' } },
          { to: '+14155550125' },
        ],
      });
      assert.equal(response.statusCode, 202, response.body);
      const result = response.json<{ results: { id?: string; status: string; code?: string }[] }>();
      assert.deepEqual(
        result.results.map((r) => r.code ?? r.status),
        ['queued', 'queued', 'PIGEON_ERR_TEMPLATE_VARIABLES'],
      );
      assert.equal((await publishedFor(result.results[0]!.id!)).body, 'Hi Ana, your order A-1 has shipped.');
      assert.equal((await publishedFor(result.results[1]!.id!)).body, 'Hi Bo, your order B-2 has shipped.');
    });

    test('a batch naming an unknown template is refused as a whole', async () => {
      const response = await api.call('POST', '/v1/messages/batch', smartKey, {
        template: templateId,
        messages: [{ to: '+14155550123' }],
      });
      assert.equal(response.statusCode, 422);
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_UNKNOWN_TEMPLATE');
    });
  });
});
