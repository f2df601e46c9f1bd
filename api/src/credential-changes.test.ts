import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventDecodeError } from '../../core/events.ts';
import {
  type CredentialChange,
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
