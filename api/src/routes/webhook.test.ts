/**
 * The tenant webhook (PUT/GET/DELETE /v1/webhook) and per-message `statusCallback` URLs on
 * POST /v1/messages and /v1/messages/batch, through the real app over SQLite and the in-process bus.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Subscription } from '../../../core/bus/bus.ts';
import type { MessageRequested } from '../../../core/message.ts';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { SEND_TOPICS } from '../../../core/topics.ts';
import { callOn, startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { apiKeyRecord, generateApiKey } from '../api-keys.ts';

interface WebhookView {
  url: string | null;
  secret?: string;
  secretHint: string;
  createdAt: string;
  updatedAt: string;
}

describe('webhook and statusCallback', () => {
  let app: FastifyInstance;
  let devApp: FastifyInstance;
  let store: SqliteStore;
  let api: TestApi;
  let lanes: Subscription;
  const published: MessageRequested[] = [];
  let tenants = 0;

  before(async () => {
    api = await startTestApi({ deps: { publishTimeoutMs: 1000 } });
    ({ app, store } = api);
    lanes = await api.bus.subscribe({
      groupId: 'bridge',
      topics: SEND_TOPICS,
      handler: async (batch) => {
        for (const r of batch.records) published.push(JSON.parse(r.value) as MessageRequested);
      },
    });
    devApp = await api.another({ callbacks: { allowPrivateNetworks: true } });
  });

  after(async () => {
    await lanes.close();
    await api.close();
  });

  async function key(scopes = ['messages:write', 'messages:read']): Promise<{ tenant: string; key: string }> {
    const tenant = `t-${++tenants}`;
    const k = generateApiKey();
    await store.putApiKey(apiKeyRecord(k, tenant, scopes, 'test'));
    return { tenant, key: k };
  }

  const call = (
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    url: string,
    k: string,
    payload?: unknown,
    on = app,
  ) => callOn(on)(method, url, k, payload);
  const problem = (r: LightMyRequestResponse) =>
    r.json<{ code: string; errors?: Array<{ field: string }> }>();

  async function publishedFor(id: string): Promise<MessageRequested> {
    for (let i = 0; i < 100; i++) {
      const found = published.find((m) => m.messageId === id);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`message ${id} not on a lane`);
  }

  describe('/v1/webhook', () => {
    test('the first PUT makes the secret and shows it once; GET never shows it', async () => {
      const { tenant, key: k } = await key();
      const created = await call('PUT', '/v1/webhook', k, { url: 'https://hooks.example.com/pigeon' });
      assert.equal(created.statusCode, 201, created.body);
      const view = created.json<WebhookView>();
      assert.match(view.secret ?? '', /^whsec_[\w-]{43}$/);
      assert.equal(view.url, 'https://hooks.example.com/pigeon');
      assert.equal(view.secretHint, `${view.secret!.slice(0, 10)}…`);
      assert.equal((await store.getWebhook(tenant))?.secret, view.secret);

      const read = await call('GET', '/v1/webhook', k);
      assert.equal(read.statusCode, 200);
      assert.equal(read.json<WebhookView>().secret, undefined);
      assert.ok(!read.body.includes(view.secret!));

      const moved = await call('PUT', '/v1/webhook', k, { url: 'https://hooks.example.com/v2' });
      assert.equal(moved.statusCode, 200);
      assert.equal(moved.json<WebhookView>().secret, undefined, 'the secret is not shown again');
      assert.equal((await store.getWebhook(tenant))?.secret, view.secret, 'nor changed');
      assert.equal(moved.json<WebhookView>().createdAt, view.createdAt);
    });

    test('rotateSecret replaces the secret and shows the new one; the URL stays unless given', async () => {
      const { tenant, key: k } = await key();
      const first = (
        await call('PUT', '/v1/webhook', k, { url: 'https://hooks.example.com/a' })
      ).json<WebhookView>();
      const rotated = await call('PUT', '/v1/webhook', k, { rotateSecret: true });
      assert.equal(rotated.statusCode, 200);
      const second = rotated.json<WebhookView>();
      assert.ok(second.secret && second.secret !== first.secret);
      assert.equal(second.url, 'https://hooks.example.com/a');
      assert.equal((await store.getWebhook(tenant))?.secret, second.secret);
    });

    test('a tenant may keep only the secret (url null), for per-message callbacks', async () => {
      const { key: k } = await key();
      const created = await call('PUT', '/v1/webhook', k, {});
      assert.equal(created.statusCode, 201);
      assert.equal(created.json<WebhookView>().url, null);
      const withUrl = await call('PUT', '/v1/webhook', k, { url: 'https://hooks.example.com/a' });
      assert.equal(withUrl.json<WebhookView>().url, 'https://hooks.example.com/a');
      const cleared = await call('PUT', '/v1/webhook', k, { url: null });
      assert.equal(cleared.json<WebhookView>().url, null);
    });

    test('DELETE removes it: 204, then 404', async () => {
      const { tenant, key: k } = await key();
      await call('PUT', '/v1/webhook', k, { url: 'https://hooks.example.com/a' });
      assert.equal((await call('DELETE', '/v1/webhook', k)).statusCode, 204);
      assert.equal(await store.getWebhook(tenant), undefined);
      for (const method of ['GET', 'DELETE'] as const) {
        const gone = await call(method, '/v1/webhook', k);
        assert.equal(gone.statusCode, 404, method);
        assert.equal(problem(gone).code, 'PIGEON_ERR_NOT_FOUND');
      }
    });

    test('URLs must be public http(s) unless private networks are allowed', async () => {
      const { key: k } = await key();
      for (const url of [
        'ftp://hooks.example.com/',
        'http://127.0.0.1:8080/hook',
        'http://169.254.169.254/latest',
        'https://user:pw@hooks.example.com/',
        'not a url',
      ]) {
        const refused = await call('PUT', '/v1/webhook', k, { url });
        assert.equal(refused.statusCode, 400, url);
        assert.equal(problem(refused).code, 'PIGEON_ERR_VALIDATION');
        assert.equal(problem(refused).errors?.[0]?.field, '/url');
      }
      const dev = await call('PUT', '/v1/webhook', k, { url: 'http://127.0.0.1:8080/hook' }, devApp);
      assert.equal(dev.statusCode, 201, dev.body);
    });

    test('reading needs messages:read, changing needs messages:write; each tenant sees its own', async () => {
      const reader = await key(['messages:read']);
      const writer = await key(['messages:write']);
      assert.equal(
        (await call('PUT', '/v1/webhook', reader.key, { url: 'https://a.example.com/' })).statusCode,
        403,
      );
      assert.equal((await call('DELETE', '/v1/webhook', reader.key)).statusCode, 403);
      assert.equal((await call('GET', '/v1/webhook', writer.key)).statusCode, 403);
      assert.equal((await app.inject({ method: 'GET', url: '/v1/webhook' })).statusCode, 401);

      const other = await key();
      await call('PUT', '/v1/webhook', other.key, { url: 'https://other.example.com/' });
      assert.equal((await call('GET', '/v1/webhook', reader.key)).statusCode, 404, "not the other tenant's");
    });
  });

  describe('statusCallback on messages', () => {
    test('is refused while the tenant has no signing secret, and rides the event once it has', async () => {
      const { key: k } = await key();
      const body = { to: '+14155550123', body: 'hi', statusCallback: 'https://shop.example.com/sms/42' };
      const refused = await call('POST', '/v1/messages', k, body);
      assert.equal(refused.statusCode, 409);
      assert.equal(problem(refused).code, 'PIGEON_ERR_CALLBACK_SECRET_MISSING');

      await call('PUT', '/v1/webhook', k, {});
      const accepted = await call('POST', '/v1/messages', k, body);
      assert.equal(accepted.statusCode, 202, accepted.body);
      const event = await publishedFor(accepted.json<{ id: string }>().id);
      assert.equal(event.statusCallback, 'https://shop.example.com/sms/42');

      // Another text: the same one again would be the first's duplicate, never published.
      const plain = await call('POST', '/v1/messages', k, { to: '+14155550123', body: 'hi again' });
      assert.equal((await publishedFor(plain.json<{ id: string }>().id)).statusCallback, undefined);
    });

    test('a message without statusCallback needs no secret', async () => {
      const { key: k } = await key();
      assert.equal(
        (await call('POST', '/v1/messages', k, { to: '+14155550123', body: 'hi' })).statusCode,
        202,
      );
    });

    test('a bad statusCallback is a 400 naming the field', async () => {
      const { key: k } = await key();
      await call('PUT', '/v1/webhook', k, {});
      for (const statusCallback of [
        'http://10.0.0.5/cb',
        'mailto:ops@example.com',
        'https://x.example.com/#a',
      ]) {
        const response = await call('POST', '/v1/messages', k, {
          to: '+14155550123',
          body: 'hi',
          statusCallback,
        });
        assert.equal(response.statusCode, 400, statusCallback);
        assert.equal(problem(response).code, 'PIGEON_ERR_VALIDATION');
        assert.equal(problem(response).errors?.[0]?.field, '/statusCallback');
      }
    });

    test('in a batch, an item’s URL wins over the batch’s, and a bad one refuses only its item', async () => {
      const { key: k } = await key();
      const batch = {
        statusCallback: 'https://shop.example.com/batch',
        body: 'sale',
        messages: [
          { to: '+14155550101' },
          { to: '+14155550102', statusCallback: 'https://shop.example.com/vip' },
          { to: '+14155550103', statusCallback: 'http://192.168.0.1/' },
        ],
      };
      const refused = await call('POST', '/v1/messages/batch', k, batch);
      assert.equal(refused.statusCode, 409, 'no secret yet');
      assert.equal(problem(refused).code, 'PIGEON_ERR_CALLBACK_SECRET_MISSING');

      await call('PUT', '/v1/webhook', k, {});
      const response = await call('POST', '/v1/messages/batch', k, batch);
      assert.equal(response.statusCode, 202, response.body);
      const { results } = response.json<{ results: Array<{ id?: string; status: string; code?: string }> }>();
      assert.deepEqual(
        results.map((r) => [r.status, r.code]),
        [
          ['queued', undefined],
          ['queued', undefined],
          ['rejected', 'PIGEON_ERR_VALIDATION'],
        ],
      );
      assert.equal((await publishedFor(results[0]!.id!)).statusCallback, 'https://shop.example.com/batch');
      assert.equal((await publishedFor(results[1]!.id!)).statusCallback, 'https://shop.example.com/vip');
    });
  });
});
