import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { ApiKeyRecord } from '../../core/store/kinds/api-keys.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { apiKeyRecord, generateApiKey } from './api-keys.ts';
import { authentication } from './auth.ts';
import { PROBLEM_CONTENT_TYPE, problemCounter, registerProblemHandlers } from './problem.ts';

/** The real SQLite store, counting the key lookups that reach it past the authenticator's cache. */
class CountingStore extends SqliteStore {
  lookups = 0;
  override async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    this.lookups++;
    return super.findApiKeyByHash(hash);
  }
}

const readerKey = generateApiKey();
const writerKey = generateApiKey();
const adminKey = generateApiKey();
let store: CountingStore;
let app: FastifyInstance;

before(async () => {
  store = new CountingStore(':memory:');
  await store.migrate();
  await store.putApiKey(apiKeyRecord(readerKey, 'tenant-r', ['messages:read'], 'reader'));
  await store.putApiKey(apiKeyRecord(writerKey, 'tenant-w', ['messages:write'], 'writer'));
  await store.putApiKey(apiKeyRecord(adminKey, 'tenant-a', ['admin'], 'ops'));

  app = Fastify();
  registerProblemHandlers(app, problemCounter(new Registry()));
  await app.register(authentication, { store });
  // Two route plugins, each its own encapsulated context like the API's: the route-level form…
  await app.register(async (routes) => {
    routes.get('/reads', { onRequest: routes.requireScope('messages:read') }, async (request) => ({
      tenantId: request.principal.tenantId,
      keyId: request.principal.keyId,
    }));
    routes.post(
      '/writes',
      {
        onRequest: routes.requireScope('messages:write'),
        schema: {
          body: {
            type: 'object',
            required: ['to'],
            properties: { to: { type: 'string' } },
            additionalProperties: false,
          },
        },
      },
      async () => ({ ok: true }),
    );
    routes.get('/public', async () => ({ ok: true }));
  });
  // …and the plugin-wide one.
  await app.register(async (routes) => {
    routes.addHook('onRequest', routes.requireScope('admin'));
    routes.get('/admin', async (request) => ({ tenantId: request.principal.tenantId }));
  });
});

after(async () => {
  await app.close();
  await store.close();
});

const get = (url: string, key?: string) =>
  app.inject({ method: 'GET', url, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });

const problemCode = (response: { headers: Record<string, unknown>; json: () => unknown }) => {
  assert.ok(String(response.headers['content-type']).startsWith(PROBLEM_CONTENT_TYPE));
  return (response.json() as { code: string }).code;
};

test('a route requiring a scope answers 401 without a key, 403 without the scope, 200 with it', async () => {
  const anonymous = await get('/reads');
  assert.equal(anonymous.statusCode, 401);
  assert.equal(problemCode(anonymous), 'PIGEON_ERR_UNAUTHORIZED');

  const wrongScope = await get('/reads', writerKey);
  assert.equal(wrongScope.statusCode, 403);
  assert.equal(problemCode(wrongScope), 'PIGEON_ERR_FORBIDDEN');

  const allowed = await get('/reads', readerKey);
  assert.equal(allowed.statusCode, 200);
  assert.equal(allowed.json<{ tenantId: string }>().tenantId, 'tenant-r');
});

test('an unknown key is 401 like a missing one', async () => {
  const unknown = await get('/reads', generateApiKey());
  assert.equal(unknown.statusCode, 401);
  assert.equal(problemCode(unknown), 'PIGEON_ERR_UNAUTHORIZED');
});

test('the admin scope passes every scope check', async () => {
  const response = await get('/reads', adminKey);
  assert.equal(response.statusCode, 200);
  assert.equal(response.json<{ tenantId: string }>().tenantId, 'tenant-a');
});

test('a plugin-wide hook guards every route of its plugin', async () => {
  assert.equal((await get('/admin')).statusCode, 401);
  assert.equal((await get('/admin', readerKey)).statusCode, 403);
  assert.equal((await get('/admin', adminKey)).statusCode, 200);
});

test('a route without the hook stays public', async () => {
  const response = await get('/public');
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { ok: true });
});

test('the key and scope are checked before the body is validated', async () => {
  const post = (key?: string) =>
    app.inject({
      method: 'POST',
      url: '/writes',
      headers: {
        'content-type': 'application/json',
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      },
      payload: JSON.stringify({ unexpected: true }),
    });
  assert.equal((await post()).statusCode, 401);
  assert.equal((await post(readerKey)).statusCode, 403);
  const invalid = await post(writerKey);
  assert.equal(invalid.statusCode, 400);
  assert.equal(problemCode(invalid), 'PIGEON_ERR_VALIDATION');
});

test('one authenticator serves every route plugin: a key reaches the store once, whichever route it calls', async () => {
  const key = generateApiKey();
  await store.putApiKey(apiKeyRecord(key, 'tenant-x', ['admin'], 'shared'));
  const before = store.lookups;
  for (const url of ['/reads', '/admin', '/reads', '/admin']) {
    assert.equal((await get(url, key)).statusCode, 200, url);
  }
  assert.equal(store.lookups - before, 1);

  // A miss is remembered for all of them too, so a flood of bad keys reaches the store once.
  const bad = generateApiKey();
  const beforeMisses = store.lookups;
  assert.equal((await get('/reads', bad)).statusCode, 401);
  assert.equal((await get('/admin', bad)).statusCode, 401);
  assert.equal(store.lookups - beforeMisses, 1);
});
