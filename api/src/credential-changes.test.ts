import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { isPigeonError } from '../../core/errors.ts';
import { EventDecodeError } from '../../core/events.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { ApiKeyAuthenticator, apiKeyRecord, generateApiKey, hashApiKey } from './api-keys.ts';
import {
  type CredentialChange,
  CredentialChanges,
  decodeCredentialChange,
  encodeCredentialChange,
} from './credential-changes.ts';

test('a credential change survives the bus, keyed by what it concerns', () => {
  const changes: CredentialChange[] = [
    { kind: 'key', hash: 'a'.repeat(64) },
    { kind: 'tenant', tenantId: 'acme' },
  ];
  for (const change of changes) {
    const record = encodeCredentialChange(change);
    assert.equal(record.key, change.kind === 'key' ? change.hash : change.tenantId);
    assert.deepEqual(decodeCredentialChange(record.value), change);
  }
});

test('anything else on the topic is refused as undecodable', () => {
  for (const raw of [
    'not json',
    'null',
    '{}',
    '{"kind":"key","hash":"short"}',
    '{"kind":"tenant","tenantId":""}',
    '{"kind":"everything"}',
  ]) {
    assert.throws(() => decodeCredentialChange(raw), EventDecodeError, raw);
  }
});

test('a change the bus does not take is applied here and reported as the bus being unavailable', async () => {
  const store = new SqliteStore(':memory:');
  await store.migrate();
  const bus = new MemoryBus();
  await bus.ensureTopics(topicSpecs(1));
  try {
    const key = generateApiKey();
    const record = apiKeyRecord(key, 'tenant-1', ['messages:read'], 'app');
    await store.putApiKey(record);
    const authenticator = new ApiKeyAuthenticator(store);
    await authenticator.authenticate(`Bearer ${key}`);
    await store.revokeApiKey('tenant-1', record.id, Date.now());
    await bus.close();
    const changes = new CredentialChanges(bus, authenticator, 200);
    await assert.rejects(
      changes.announce({ kind: 'key', hash: hashApiKey(key) }),
      (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_BUS_UNAVAILABLE' && err.retriable,
    );
    await assert.rejects(
      authenticator.authenticate(`Bearer ${key}`),
      (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_UNAUTHORIZED',
    );
  } finally {
    await store.close();
  }
});
