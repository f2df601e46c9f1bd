import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { newId } from '../../core/ids.ts';
import type { PigeonEvent } from '../../core/message.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { isSuppressed, SuppressionList } from '../../core/suppression-cache.ts';
import { providerOptOuts, suppressProviderOptOuts } from './provider-opt-outs.ts';

const AT = '2026-12-01T10:00:00.000Z';

function failed(errorClass: string, messageId = newId()): PigeonEvent {
  return {
    schemaVersion: 1,
    id: newId(),
    occurredAt: AT,
    messageId,
    tenantId: 'tenant-a',
    type: 'message.failed',
    status: 'failed',
    provider: 'twilio-main',
    attempt: 1,
    errorClass,
    errorCode: '21610',
    reason: 'Attempt to send to unsubscribed recipient',
  };
}

test('only calls classed opted_out are provider opt-outs', () => {
  const refusal = failed('opted_out');
  assert.deepEqual(providerOptOuts([failed('permanent'), refusal, failed('retryable')]), [
    { tenantId: 'tenant-a', messageId: refusal.messageId, occurredAt: Date.parse(AT) },
  ]);
});

test("a provider's opt-out refusal suppresses the recipient for the sender it went from", async () => {
  const store = new SqliteStore(':memory:');
  after(() => store.close());
  await store.migrate();
  const cache = new MemoryCache();
  const messageId = newId();
  const unstored = newId();
  await store.writeBatch({
    messages: [
      {
        id: messageId,
        status: 'failed',
        updatedAt: 1,
        tenantId: 'tenant-a',
        recipient: '+447400123456',
        sender: '+15005550006',
        messageClass: 'marketing',
      },
    ],
    events: [],
  });

  const added = await suppressProviderOptOuts(
    providerOptOuts([failed('opted_out', messageId), failed('opted_out', unstored)]),
    store,
    new SuppressionList(store, cache),
  );

  assert.deepEqual(
    added.map((r) => [r.phone, r.sender, r.reason]),
    [['+447400123456', '+15005550006', 'provider']],
  );
  const next = {
    tenantId: 'tenant-a',
    to: '+447400123456',
    from: '+15005550006',
    class: 'marketing' as const,
  };
  assert.equal(await isSuppressed(cache, next), true);
});
