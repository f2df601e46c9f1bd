import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { isPigeonError } from '../../core/errors.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import {
  API_KEY_PREFIX,
  ApiKeyAuthenticator,
  apiKeyRecord,
  generateApiKey,
  hashApiKey,
  type Principal,
  requireScope,
  unknownScopes,
} from './api-keys.ts';

const isCode = (code: string) => (err: unknown) => isPigeonError(err) && err.code === code;

test('generated keys carry the prefix and at least 192 random bits', () => {
  const key = generateApiKey();
  assert.ok(key.startsWith(API_KEY_PREFIX));
  const secret = key.slice(API_KEY_PREFIX.length);
  assert.match(secret, /^[A-Za-z0-9_-]+$/);
  // base64url carries 6 bits per character.
  assert.ok(secret.length * 6 >= 192, `${secret.length} characters`);
  assert.ok(Buffer.from(secret, 'base64url').length >= 24);
});

test('generated keys are unique', () => {
  const keys = new Set(Array.from({ length: 1000 }, () => generateApiKey()));
  assert.equal(keys.size, 1000);
});

test('a stored key record holds only the hash of the key and its display prefix', () => {
  const key = generateApiKey();
  const record = apiKeyRecord(key, 'tenant-1', ['messages:write'], 'ci');

  assert.equal(record.hash, createHash('sha256').update(key).digest('hex'));
  assert.equal(record.prefix, key.slice(0, 12));
  assert.equal(record.prefix.length, 12);
  assert.equal(record.revokedAt, null);
  assert.deepEqual(record.scopes, ['messages:write']);
  const { prefix: _prefix, ...rest } = record;
  const serialized = JSON.stringify(rest);
  const secret = key.slice(API_KEY_PREFIX.length);
  // No stretch of the secret beyond what the prefix already shows appears anywhere else.
  for (let i = 0; i + 8 <= secret.length; i++) {
    assert.ok(!serialized.includes(secret.slice(i, i + 8)), `key fragment at ${i} is stored`);
  }
});

let store: SqliteStore;
const validKey = generateApiKey();
const revokedKey = generateApiKey();

before(async () => {
  store = new SqliteStore(':memory:');
  await store.migrate();
  await store.putApiKey(apiKeyRecord(validKey, 'tenant-1', ['messages:write', 'messages:read'], 'app'));
  await store.putApiKey({ ...apiKeyRecord(revokedKey, 'tenant-1', ['admin'], 'old'), revokedAt: Date.now() });
});

after(async () => {
  await store.close();
});

test('a stored key authenticates as its tenant with its scopes', async () => {
  const principal = await new ApiKeyAuthenticator(store).authenticate(`Bearer ${validKey}`);
  assert.equal(principal.tenantId, 'tenant-1');
  assert.deepEqual([...principal.scopes].sort(), ['messages:read', 'messages:write']);
});

test('the bearer scheme is matched without regard to case', async () => {
  const principal = await new ApiKeyAuthenticator(store).authenticate(`bearer ${validKey}`);
  assert.equal(principal.tenantId, 'tenant-1');
});

test('requests without a valid bearer key are unauthorized', async () => {
  const authenticator = new ApiKeyAuthenticator(store);
  const unauthorized = isCode('PIGEON_ERR_UNAUTHORIZED');
  await assert.rejects(authenticator.authenticate(undefined), unauthorized, 'missing header');
  await assert.rejects(authenticator.authenticate(''), unauthorized, 'empty header');
  await assert.rejects(authenticator.authenticate(`Basic ${validKey}`), unauthorized, 'wrong scheme');
  await assert.rejects(authenticator.authenticate(validKey), unauthorized, 'no scheme');
  await assert.rejects(authenticator.authenticate('Bearer pgn_short'), unauthorized, 'too short');
  await assert.rejects(
    authenticator.authenticate(`Bearer sk_${'a'.repeat(32)}`),
    unauthorized,
    'wrong prefix',
  );
  await assert.rejects(authenticator.authenticate(`Bearer pgn_${'a'.repeat(200)}`), unauthorized, 'too long');
  await assert.rejects(authenticator.authenticate(`Bearer ${generateApiKey()}`), unauthorized, 'unknown key');
  await assert.rejects(authenticator.authenticate(`Bearer ${revokedKey}`), unauthorized, 'revoked key');
});

test('an unknown key stays unauthorized when asked again', async () => {
  const authenticator = new ApiKeyAuthenticator(store);
  const unknown = `Bearer ${generateApiKey()}`;
  for (let i = 0; i < 3; i++) {
    await assert.rejects(authenticator.authenticate(unknown), isCode('PIGEON_ERR_UNAUTHORIZED'));
  }
});

function principal(...scopes: string[]): Principal {
  return { keyId: 'key-1', tenantId: 'tenant-1', scopes: new Set(scopes) };
}

test('a key without the required scope is forbidden', () => {
  assert.throws(
    () => requireScope(principal('messages:read'), 'messages:write'),
    isCode('PIGEON_ERR_FORBIDDEN'),
  );
  assert.throws(() => requireScope(principal(), 'messages:read'), isCode('PIGEON_ERR_FORBIDDEN'));
});

test('a key with the scope, or with admin, may proceed', () => {
  assert.doesNotThrow(() => requireScope(principal('messages:write'), 'messages:write'));
  assert.doesNotThrow(() => requireScope(principal('admin'), 'messages:write'));
  assert.doesNotThrow(() => requireScope(principal('admin'), 'pii:read'));
});

test('unknownScopes names the scopes that are not ALL_SCOPES', () => {
  assert.deepEqual(unknownScopes(['messages:write', 'admin']), []);
  assert.deepEqual(unknownScopes(['messages:send', 'admin', '', 'Admin']), ['messages:send', '', 'Admin']);
});

test('a key past its end is refused even while it is cached', async () => {
  let now = Date.now();
  const key = generateApiKey();
  await store.putApiKey({
    ...apiKeyRecord(key, 'tenant-1', ['messages:read'], 'rotated'),
    expiresAt: now + 1000,
  });
  const authenticator = new ApiKeyAuthenticator(store, 30_000, 5_000, () => now);
  assert.equal((await authenticator.authenticate(`Bearer ${key}`)).tenantId, 'tenant-1');
  now += 1000;
  await assert.rejects(authenticator.authenticate(`Bearer ${key}`), isCode('PIGEON_ERR_UNAUTHORIZED'));
});

test('a forgotten key is read again: a revocation takes effect at once', async () => {
  const key = generateApiKey();
  const record = apiKeyRecord(key, 'tenant-1', ['messages:read'], 'app');
  await store.putApiKey(record);
  const authenticator = new ApiKeyAuthenticator(store);
  await authenticator.authenticate(`Bearer ${key}`);
  await store.revokeApiKey('tenant-1', record.id, Date.now());
  // Still cached: what the 30 s cache means without being told.
  await authenticator.authenticate(`Bearer ${key}`);
  authenticator.forgetKey(hashApiKey(key));
  await assert.rejects(authenticator.authenticate(`Bearer ${key}`), isCode('PIGEON_ERR_UNAUTHORIZED'));
});

test("a suspended tenant's keys are refused with their own code, and work again once it is resumed", async () => {
  const key = generateApiKey();
  await store.putApiKey(apiKeyRecord(key, 'tenant-s', ['messages:read'], 'app'));
  await store.createTenant({ id: 'tenant-s', name: 'S', status: 'active', createdAt: 1, updatedAt: 1 });
  const authenticator = new ApiKeyAuthenticator(store);
  await authenticator.authenticate(`Bearer ${key}`);
  await store.setTenantStatus('tenant-s', 'suspended', 2);
  authenticator.forgetTenant('tenant-s');
  await assert.rejects(authenticator.authenticate(`Bearer ${key}`), isCode('PIGEON_ERR_TENANT_SUSPENDED'));
  await store.setTenantStatus('tenant-s', 'active', 3);
  authenticator.forgetTenant('tenant-s');
  assert.equal((await authenticator.authenticate(`Bearer ${key}`)).tenantId, 'tenant-s');
});
