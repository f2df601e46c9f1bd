import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MemoryCache } from './cache/memory-cache.ts';
import { ALL_SENDERS } from './opt-out.ts';
import { SqliteStore } from './store/sqlite-store.ts';
import { isSuppressed, parseScopes, SuppressionList, suppressionKey } from './suppression-cache.ts';

const SENDER = '+15005550006';
const PHONE = '+447400123456';

describe('suppression list and its send-time check', async () => {
  const store = new SqliteStore(':memory:');
  await store.migrate();
  const cache = new MemoryCache();
  const list = new SuppressionList(store, cache);
  after(() => store.close());

  const message = (cls: 'marketing' | 'transactional' | 'otp', from = SENDER) => ({
    tenantId: 'tenant-a',
    to: PHONE,
    from,
    class: cls,
  });
  const entry = (sender: string) => ({
    tenantId: 'tenant-a',
    phone: PHONE,
    sender,
    reason: 'keyword' as const,
    createdAt: 1,
  });

  test('an added STOP makes marketing from that sender suppressed, and its removal lifts it', async () => {
    assert.equal(await isSuppressed(cache, message('marketing')), false);
    await list.add([entry(SENDER)]);
    assert.equal(await isSuppressed(cache, message('marketing')), true);
    assert.equal(await isSuppressed(cache, message('transactional')), false);
    assert.equal(await isSuppressed(cache, message('otp')), false);
    assert.equal(await list.remove('tenant-a', PHONE, SENDER), 1);
    assert.equal(await isSuppressed(cache, message('marketing')), false);
    assert.equal(await cache.get(suppressionKey('tenant-a', PHONE)), undefined, 'no empty key left');
  });

  test('the cache holds every scope the store holds, so removing one keeps the others', async () => {
    await list.add([entry(SENDER), entry(ALL_SENDERS)]);
    await list.remove('tenant-a', PHONE, SENDER);
    assert.deepEqual(parseScopes(await cache.get(suppressionKey('tenant-a', PHONE))), [ALL_SENDERS]);
    assert.equal(await isSuppressed(cache, message('transactional', 'OTHER')), true);
    await list.remove('tenant-a', PHONE);
    assert.equal(await isSuppressed(cache, message('transactional', 'OTHER')), false);
  });

  test('a lost cache is rebuilt from the store', async () => {
    await list.add([entry(SENDER)]);
    await cache.del(suppressionKey('tenant-a', PHONE));
    assert.equal(await isSuppressed(cache, message('marketing')), false);
    await list.refresh([{ tenantId: 'tenant-a', phone: PHONE }]);
    assert.equal(await isSuppressed(cache, message('marketing')), true);
  });

  test('an unreadable cached value suppresses nothing rather than failing the send', () => {
    assert.deepEqual(parseScopes('not json'), []);
    assert.deepEqual(parseScopes('{"a":1}'), []);
  });
});
