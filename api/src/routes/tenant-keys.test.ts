/**
 * Tenants and the API key lifecycle over HTTP (/v1/admin/tenants…): two app instances, as two api
 * processes would be, sharing one store and one in-process bus, each with its own key cache kept
 * in step through the bus.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Subscription } from '../../../core/bus/bus.ts';
import { createLogger } from '../../../core/logger.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { callOn, startTestApi, type TestApi } from '../../../test/support/api-harness.ts';
import { sleep, waitFor } from '../../../test/support/wait.ts';
import { ApiKeyAuthenticator, generateApiKey, hashApiKey } from '../api-keys.ts';
import { followCredentialChanges } from '../credential-changes.ts';

interface KeyAnswer {
  id: string;
  tenantId: string;
  key: string;
  hint: string;
  status: string;
  expiresAt: string | null;
  revokedAt: string | null;
  replaced?: { id: string; expiresAt: string | null; status: string };
}

describe('tenants and API keys an operator runs', () => {
  const logger = createLogger({ level: 'silent' });
  let store: SqliteStore;
  let api: TestApi;
  let apps: FastifyInstance[] = [];
  let feeds: Subscription[] = [];
  const adminKey = generateApiKey();
  const legacyKey = generateApiKey();

  before(async () => {
    store = new SqliteStore(':memory:');
    await store.migrate();
    const [authA, authB] = [new ApiKeyAuthenticator(store), new ApiKeyAuthenticator(store)];
    api = await startTestApi({
      store,
      keys: [
        { key: adminKey, tenant: 'operator', scopes: ['admin'], label: 'ops' },
        // A key of a tenant that was never created: keeps working as it did before tenants existed.
        { key: legacyKey, tenant: 'legacy', scopes: ['messages:read'], label: 'old app' },
      ],
      deps: { logger, authenticator: authA },
    });
    feeds.push(await followCredentialChanges(api.bus, authA, logger, 'api-a'));
    feeds.push(await followCredentialChanges(api.bus, authB, logger, 'api-b'));
    apps = [api.app, await api.another({ authenticator: authB })];
  });

  after(async () => {
    for (const feed of feeds) await feed.close();
    apps = [];
    feeds = [];
    await api.close();
  });

  const call = (
    app: FastifyInstance,
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    key: string | undefined,
    payload?: unknown,
  ) => callOn(app)(method, url, key, payload);
  const a = () => apps[0]!;
  const b = () => apps[1]!;
  /** A call a tenant's key makes: list its messages (messages:read). */
  const listMessages = (app: FastifyInstance, key: string) => call(app, 'GET', '/v1/messages', key);

  const createTenant = async (id: string) => {
    const response = await call(a(), 'POST', '/v1/admin/tenants', adminKey, { id, name: `Tenant ${id}` });
    assert.equal(response.statusCode, 201, response.body);
  };
  const createKey = async (tenantId: string, scopes = ['messages:write', 'messages:read']) => {
    const response = await call(a(), 'POST', `/v1/admin/tenants/${tenantId}/keys`, adminKey, {
      name: 'checkout',
      scopes,
    });
    assert.equal(response.statusCode, 201, response.body);
    return response.json<KeyAnswer>();
  };
  /** Polls until `app` answers `status` to the key, failing after a second. */
  const answersWithin1s = async (app: FastifyInstance, key: string, status: number) => {
    const started = Date.now();
    await waitFor(
      async () => (await listMessages(app, key)).statusCode === status,
      1_000,
      `${status} within 1 s`,
    );
    return Date.now() - started;
  };

  test('the admin routes need a key with the admin scope', async () => {
    await createTenant('scoped');
    const { key } = await createKey('scoped');
    assert.equal((await call(a(), 'GET', '/v1/admin/tenants', undefined)).statusCode, 401);
    const forbidden = await call(a(), 'GET', '/v1/admin/tenants', key);
    assert.equal(forbidden.statusCode, 403);
    assert.equal(forbidden.json<{ code: string }>().code, 'PIGEON_ERR_FORBIDDEN');
    const keys = await call(a(), 'POST', '/v1/admin/tenants/scoped/keys', key, {
      name: 'x',
      scopes: ['admin'],
    });
    assert.equal(keys.statusCode, 403);
  });

  test('a tenant is created once, read, and listed a page at a time', async () => {
    await createTenant('list-a');
    await createTenant('list-b');
    const again = await call(a(), 'POST', '/v1/admin/tenants', adminKey, { id: 'list-a', name: 'again' });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json<{ code: string }>().code, 'PIGEON_ERR_CONFLICT');
    const one = await call(b(), 'GET', '/v1/admin/tenants/list-a', adminKey);
    assert.equal(one.statusCode, 200);
    assert.deepEqual(
      { ...one.json<Record<string, unknown>>(), createdAt: 'x', updatedAt: 'x' },
      { id: 'list-a', name: 'Tenant list-a', status: 'active', createdAt: 'x', updatedAt: 'x' },
    );
    assert.equal((await call(a(), 'GET', '/v1/admin/tenants/nobody', adminKey)).statusCode, 404);
    const bad = await call(a(), 'POST', '/v1/admin/tenants', adminKey, { id: 'no spaces', name: 'x' });
    assert.equal(bad.statusCode, 400);

    const first = await call(a(), 'GET', '/v1/admin/tenants?after=list-&limit=1', adminKey);
    const page = first.json<{ tenants: Array<{ id: string }>; nextAfter: string | null }>();
    assert.deepEqual(
      page.tenants.map((t) => t.id),
      ['list-a'],
    );
    assert.equal(page.nextAfter, 'list-a');
    const second = await call(a(), 'GET', `/v1/admin/tenants?after=${page.nextAfter}&limit=1`, adminKey);
    assert.deepEqual(
      second.json<{ tenants: Array<{ id: string }> }>().tenants.map((t) => t.id),
      ['list-b'],
    );
  });

  test('a key of a tenant never created keeps working', async () => {
    assert.equal((await listMessages(a(), legacyKey)).statusCode, 200);
  });

  test('a new key works at once on every instance, and is shown only when created', async () => {
    await createTenant('acme');
    const created = await createKey('acme');
    assert.match(created.key, /^pgn_/);
    assert.equal(created.hint, created.key.slice(-4));
    assert.equal(created.status, 'active');
    const send = await call(a(), 'POST', '/v1/messages', created.key, { to: '+14155550123', body: 'hello' });
    assert.equal(send.statusCode, 202, send.body);
    assert.equal((await listMessages(b(), created.key)).statusCode, 200);
  });

  test('a key needs a created tenant, a name and known scopes', async () => {
    const noTenant = await call(a(), 'POST', '/v1/admin/tenants/ghost/keys', adminKey, {
      name: 'x',
      scopes: ['messages:read'],
    });
    assert.equal(noTenant.statusCode, 404);
    await createTenant('strict');
    for (const scopes of [['bogus'], [], ['messages:read', 'messages:read'], ['messages:read', 'Admin']]) {
      const refused = await call(a(), 'POST', '/v1/admin/tenants/strict/keys', adminKey, {
        name: 'x',
        scopes,
      });
      assert.equal(refused.statusCode, 400, JSON.stringify(scopes));
      assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_VALIDATION');
    }
    const listed = await call(a(), 'GET', '/v1/admin/tenants/strict/keys', adminKey);
    assert.deepEqual(listed.json(), { keys: [] });
  });

  test('a listing shows each key with its four-character hint, never the key or its hash', async () => {
    await createTenant('hinted');
    const one = await createKey('hinted');
    const two = await createKey('hinted', ['messages:read']);
    const response = await call(a(), 'GET', '/v1/admin/tenants/hinted/keys', adminKey);
    assert.equal(response.statusCode, 200);
    const { keys } = response.json<{ keys: Array<Record<string, unknown>> }>();
    assert.deepEqual(
      keys.map((k) => [k.id, k.hint, k.scopes, k.status]),
      [
        [one.id, one.key.slice(-4), ['messages:write', 'messages:read'], 'active'],
        [two.id, two.key.slice(-4), ['messages:read'], 'active'],
      ],
    );
    for (const key of keys) {
      assert.deepEqual(Object.keys(key).sort(), [
        'createdAt',
        'expiresAt',
        'hint',
        'id',
        'name',
        'revokedAt',
        'scopes',
        'status',
        'tenantId',
      ]);
    }
    for (const secret of [one.key, two.key, hashApiKey(one.key), hashApiKey(two.key), one.key.slice(4, 12)]) {
      assert.ok(!response.body.includes(secret), 'a listing carries no key material beyond the hint');
    }
  });

  test('a rotated key works beside its replacement until the overlap ends, then stops everywhere', async () => {
    await createTenant('rotating');
    const old = await createKey('rotating');
    // Cached on both instances before the rotation.
    assert.equal((await listMessages(a(), old.key)).statusCode, 200);
    assert.equal((await listMessages(b(), old.key)).statusCode, 200);
    const response = await call(
      a(),
      'POST',
      `/v1/admin/tenants/rotating/keys/${old.id}/rotate?overlapSeconds=1`,
      adminKey,
    );
    assert.equal(response.statusCode, 201, response.body);
    const rotated = response.json<KeyAnswer>();
    assert.notEqual(rotated.key, old.key);
    assert.equal(rotated.replaced?.id, old.id);
    const oldEnd = rotated.replaced?.expiresAt;
    assert.ok(oldEnd);
    for (const app of [a(), b()]) {
      assert.equal((await listMessages(app, old.key)).statusCode, 200);
      assert.equal((await listMessages(app, rotated.key)).statusCode, 200);
    }
    await sleep(Date.parse(oldEnd) - Date.now() + 20);
    for (const app of [a(), b()]) {
      const refused = await listMessages(app, old.key);
      assert.equal(refused.statusCode, 401);
      assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_UNAUTHORIZED');
      assert.equal((await listMessages(app, rotated.key)).statusCode, 200);
    }
    const listed = await call(a(), 'GET', '/v1/admin/tenants/rotating/keys', adminKey);
    assert.deepEqual(
      listed.json<{ keys: Array<{ id: string; status: string }> }>().keys.map((k) => [k.id, k.status]),
      [
        [old.id, 'expired'],
        [rotated.id, 'active'],
      ],
    );
    const again = await call(a(), 'POST', `/v1/admin/tenants/rotating/keys/${old.id}/rotate`, adminKey);
    assert.equal(again.statusCode, 409);
  });

  test('a rotation without an overlap given keeps the old key a day', async () => {
    await createTenant('daylong');
    const old = await createKey('daylong');
    const before = Date.now();
    const response = await call(a(), 'POST', `/v1/admin/tenants/daylong/keys/${old.id}/rotate`, adminKey);
    assert.equal(response.statusCode, 201, response.body);
    const expiresAt = Date.parse(response.json<KeyAnswer>().replaced!.expiresAt!);
    assert.ok(expiresAt >= before + 86_400_000 && expiresAt <= Date.now() + 86_400_000, String(expiresAt));
    const tooLong = await call(
      a(),
      'POST',
      `/v1/admin/tenants/daylong/keys/${response.json<KeyAnswer>().id}/rotate?overlapSeconds=9999999`,
      adminKey,
    );
    assert.equal(tooLong.statusCode, 400);
  });

  test('a revoked key is refused within a second on the other instance, which had it cached', async () => {
    await createTenant('revoking');
    const created = await createKey('revoking');
    assert.equal((await listMessages(b(), created.key)).statusCode, 200);
    const revoked = await call(a(), 'DELETE', `/v1/admin/tenants/revoking/keys/${created.id}`, adminKey);
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.equal(revoked.json<KeyAnswer>().status, 'revoked');
    assert.equal((await listMessages(a(), created.key)).statusCode, 401);
    await answersWithin1s(b(), created.key, 401);
    const twice = await call(a(), 'DELETE', `/v1/admin/tenants/revoking/keys/${created.id}`, adminKey);
    assert.equal(twice.statusCode, 200);
    const unknown = await call(a(), 'DELETE', `/v1/admin/tenants/revoking/keys/${'0'.repeat(26)}`, adminKey);
    assert.equal(unknown.statusCode, 404);
    const otherTenant = await call(a(), 'DELETE', `/v1/admin/tenants/acme/keys/${created.id}`, adminKey);
    assert.equal(otherTenant.statusCode, 404);
  });

  test("a suspended tenant's keys are refused on every route and instance within a second, and work again once resumed", async () => {
    await createTenant('paused');
    const created = await createKey('paused');
    assert.equal((await listMessages(b(), created.key)).statusCode, 200);
    const suspended = await call(a(), 'POST', '/v1/admin/tenants/paused/suspend', adminKey);
    assert.equal(suspended.statusCode, 200, suspended.body);
    assert.equal(suspended.json<{ status: string }>().status, 'suspended');
    await answersWithin1s(b(), created.key, 403);
    for (const app of [a(), b()]) {
      const refused = await listMessages(app, created.key);
      assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_TENANT_SUSPENDED');
      const send = await call(app, 'POST', '/v1/messages', created.key, { to: '+14155550123', body: 'hi' });
      assert.equal(send.statusCode, 403);
      assert.equal(send.json<{ code: string }>().code, 'PIGEON_ERR_TENANT_SUSPENDED');
    }
    const resumed = await call(a(), 'POST', '/v1/admin/tenants/paused/resume', adminKey);
    assert.equal(resumed.json<{ status: string }>().status, 'active');
    await answersWithin1s(b(), created.key, 200);
  });

  test('an admin key cannot suspend its own tenant, and an unknown tenant is not found', async () => {
    await createTenant('operator');
    const own = await call(a(), 'POST', '/v1/admin/tenants/operator/suspend', adminKey);
    assert.equal(own.statusCode, 409);
    assert.equal((await call(a(), 'GET', '/v1/admin/tenants', adminKey)).statusCode, 200);
    assert.equal((await call(a(), 'POST', '/v1/admin/tenants/nobody/suspend', adminKey)).statusCode, 404);
  });
});

describe('tenants and API keys while the bus is down', () => {
  let store: SqliteStore;
  let api: TestApi;
  let call: TestApi['call'];
  const adminKey = generateApiKey();

  before(async () => {
    api = await startTestApi({
      keys: [{ key: adminKey, tenant: 'operator', scopes: ['admin'], label: 'ops' }],
      deps: { publishTimeoutMs: 200 },
    });
    ({ store, call } = api);
    await store.createTenant({ id: 'acme', name: 'Acme', status: 'active', createdAt: 1, updatedAt: 1 });
    await api.bus.close();
  });

  after(() => api.close());

  test('a rotation still answers its new key, which is the only place it is shown', async () => {
    const created = await call('POST', '/v1/admin/tenants/acme/keys', adminKey, {
      name: 'app',
      scopes: ['messages:read'],
    });
    assert.equal(created.statusCode, 201);
    const old = created.json<KeyAnswer>();
    const rotated = await call('POST', `/v1/admin/tenants/acme/keys/${old.id}/rotate`, adminKey);
    assert.equal(rotated.statusCode, 201, rotated.body);
    const fresh = rotated.json<KeyAnswer>();
    assert.equal((await call('GET', '/v1/messages', fresh.key)).statusCode, 200);
    assert.equal((await call('GET', '/v1/messages', old.key)).statusCode, 200);
  });

  test('a revocation is stored and in force here, and answers 503 so the caller retries to tell the others', async () => {
    const created = await call('POST', '/v1/admin/tenants/acme/keys', adminKey, {
      name: 'app',
      scopes: ['messages:read'],
    });
    const { id, key } = created.json<KeyAnswer>();
    assert.equal((await call('GET', '/v1/messages', key)).statusCode, 200);
    const revoked = await call('DELETE', `/v1/admin/tenants/acme/keys/${id}`, adminKey);
    assert.equal(revoked.statusCode, 503);
    assert.equal(revoked.json<{ code: string }>().code, 'PIGEON_ERR_BUS_UNAVAILABLE');
    assert.notEqual((await store.getApiKey('acme', id))?.revokedAt, null);
    assert.equal((await call('GET', '/v1/messages', key)).statusCode, 401);
  });
});
