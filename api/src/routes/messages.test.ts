/**
 * Sender ids on POST /v1/messages and /v1/messages/batch, and the per-tenant sender registry
 * (/v1/admin/senders) they obey, through the real app over SQLite and the in-process bus.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Subscription } from '../../../core/bus/bus.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { SEND_TOPICS } from '../../../core/topics.ts';
import { startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';

describe('messages: sender ids', () => {
  let lanes: Subscription;
  let api: TestApi;
  let call: TestApi['call'];
  const published: MessageRequested[] = [];
  const key = generateApiKey();
  const adminKey = generateApiKey();
  const registeredKey = generateApiKey();

  before(async () => {
    api = await startTestApi({
      keys: [
        { key, tenant: 'tenant-s', scopes: ['messages:write', 'messages:read'], label: 'test' },
        { key: adminKey, tenant: 'operator', scopes: ['admin'], label: 'ops' },
        { key: registeredKey, tenant: 'tenant-r', scopes: ['messages:write'], label: 'shop' },
      ],
      deps: { publishTimeoutMs: 1000 },
    });
    ({ call } = api);
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

  const post = (url: string, payload: unknown, k = key) => call('POST', url, k, payload);

  async function publishedFor(id: string): Promise<MessageRequested> {
    for (let i = 0; i < 100; i++) {
      const found = published.find((m) => m.messageId === id);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`message ${id} not on a lane`);
  }

  test('CR/LF, NUL, markup and over-long sender ids are refused with PIGEON_ERR_INVALID_SENDER', async () => {
    for (const from of ['Pig\r\nX: 1', 'Pig\u0000eon', '<b>Bank</b>', 'ElevenChars+', '+1234']) {
      const response = await post('/v1/messages', { to: '+14155550123', body: 'hi', from });
      assert.equal(response.statusCode, 400, JSON.stringify(from));
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
      const problem = response.json<{ code: string; errors: Array<{ field: string }> }>();
      assert.equal(problem.code, 'PIGEON_ERR_INVALID_SENDER');
      assert.equal(problem.errors[0]!.field, '/from');
    }
    const sizeBefore = published.length;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(published.length, sizeBefore, 'nothing was published');
  });

  test('an alphanumeric id, an E.164 number and a short code are accepted as given', async () => {
    for (const from of ['ACME Bank', '+447400123456', '72345']) {
      const response = await post('/v1/messages', { to: '+14155550123', body: 'hi', from });
      assert.equal(response.statusCode, 202, response.body);
      assert.equal((await publishedFor(response.json<{ id: string }>().id)).from, from);
    }
  });

  test('a batch with a bad sender is refused whole; a good one reaches every recipient', async () => {
    const messages = [{ to: '+14155550101' }, { to: '+14155550102' }];
    const refused = await post('/v1/messages/batch', { from: 'Shop\nnow', body: 'sale', messages });
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_INVALID_SENDER');

    const accepted = await post('/v1/messages/batch', { from: 'Shop', body: 'sale', messages });
    assert.equal(accepted.statusCode, 202, accepted.body);
    const { results } = accepted.json<{ results: Array<{ id: string }> }>();
    for (const r of results) assert.equal((await publishedFor(r.id)).from, 'Shop');
  });

  describe('the sender registry', () => {
    const register = (sender: string, body: Record<string, unknown> = {}) =>
      call('PUT', `/v1/admin/senders/${encodeURIComponent(sender)}`, adminKey, {
        tenantId: 'tenant-r',
        ...body,
      });

    test('an operator registers, lists and removes a tenant’s senders; only with the admin scope', async () => {
      const created = await register('SHOPUK', { countries: ['IE', 'GB'], default: true });
      assert.equal(created.statusCode, 201, created.body);
      assert.deepEqual(
        (({ tenantId, sender, kind, countries, default: d }) => ({ tenantId, sender, kind, countries, d }))(
          created.json<Record<string, unknown>>(),
        ),
        { tenantId: 'tenant-r', sender: 'SHOPUK', kind: 'alphanumeric', countries: ['GB', 'IE'], d: true },
      );
      assert.equal((await register('SHOPUK', { countries: ['GB'], default: true })).statusCode, 200);
      const bad = await register('Shop\r\nX');
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json<{ code: string }>().code, 'PIGEON_ERR_INVALID_SENDER');
      const forbidden = await call('PUT', '/v1/admin/senders/MINE', registeredKey, {});
      assert.equal(forbidden.statusCode, 403);
      assert.equal((await call('GET', '/v1/admin/senders?tenantId=tenant-r', registeredKey)).statusCode, 403);

      assert.equal((await register('TEMP')).statusCode, 201);
      const listed = await call('GET', '/v1/admin/senders?tenantId=tenant-r', adminKey);
      assert.deepEqual(
        listed.json<{ senders: Array<{ sender: string }> }>().senders.map((s) => s.sender),
        ['SHOPUK', 'TEMP'],
      );
      assert.equal(
        (await call('DELETE', '/v1/admin/senders/TEMP?tenantId=tenant-r', adminKey)).statusCode,
        204,
      );
      assert.equal(
        (await call('DELETE', '/v1/admin/senders/TEMP?tenantId=tenant-r', adminKey)).statusCode,
        404,
      );
    });

    test('a registered tenant sends only from its senders: others are refused with 403', async () => {
      const refused = await post(
        '/v1/messages',
        { to: '+447400123456', body: 'hi', from: 'BANK' },
        registeredKey,
      );
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_SENDER_NOT_REGISTERED');
      const elsewhere = await post(
        '/v1/messages',
        { to: '+14155550123', body: 'hi', from: 'SHOPUK' },
        registeredKey,
      );
      assert.equal(elsewhere.statusCode, 403, 'SHOPUK is registered for GB only');
      const ok = await post(
        '/v1/messages',
        { to: '+447400123456', body: 'hi', from: 'SHOPUK' },
        registeredKey,
      );
      assert.equal(ok.statusCode, 202, ok.body);

      const batch = await post(
        '/v1/messages/batch',
        { from: 'BANK', body: 'sale', messages: [{ to: '+447400123456' }] },
        registeredKey,
      );
      assert.equal(batch.statusCode, 403, 'a batch sender not registered at all refuses the batch');
      const mixed = await post(
        '/v1/messages/batch',
        { from: 'SHOPUK', body: 'sale', messages: [{ to: '+447400123456' }, { to: '+14155550123' }] },
        registeredKey,
      );
      assert.equal(mixed.statusCode, 202, mixed.body);
      assert.deepEqual(
        mixed
          .json<{ results: Array<{ status: string; code?: string }> }>()
          .results.map((r) => [r.status, r.code]),
        [
          ['queued', undefined],
          ['rejected', 'PIGEON_ERR_SENDER_NOT_REGISTERED'],
        ],
      );
    });

    test('without from, a message gets the default for its country, else a sticky number of the pool', async () => {
      for (const n of ['+14155550100', '+14155550101', '+14155550102']) {
        assert.equal((await register(n, { countries: ['US'] })).statusCode, 201);
      }
      const send = async (to: string) => {
        const response = await post('/v1/messages', { to, body: 'hi' }, registeredKey);
        assert.equal(response.statusCode, 202, response.body);
        return (await publishedFor(response.json<{ id: string }>().id)).from;
      };
      assert.equal(await send('+447400123456'), 'SHOPUK');
      const numbers = new Set<string | undefined>();
      for (let i = 0; i < 12; i++) {
        const to = `+1415555${String(2000 + i)}`;
        const first = await send(to);
        assert.match(String(first), /^\+1415555010[0-2]$/);
        assert.equal(await send(to), first, 'the same recipient keeps the same number');
        numbers.add(first);
      }
      assert.ok(numbers.size > 1, 'recipients spread over the pool');
      assert.equal(await send('+33612345678'), undefined, 'no default for FR: the route decides');
    });
  });
});
