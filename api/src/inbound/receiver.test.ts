import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { newId } from '../../../core/ids.ts';
import { Markers } from '../../../core/markers.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { SuppressionList } from '../../../core/suppression-cache.ts';
import { InboundReceiver } from './receiver.ts';

const SENDER = '+12125550101';
const PHONE = '+14255550182';

describe('inbound receiver: which message a reply answers', () => {
  const store = new SqliteStore(':memory:');
  const cache = new MemoryCache();
  const receiver = new InboundReceiver({ store, cache, suppressions: new SuppressionList(store, cache) });
  const last = newId();

  before(async () => {
    await store.migrate();
    await store.putSender({
      tenantId: 'tenant-a',
      sender: SENDER,
      kind: 'number',
      countries: [],
      isDefault: false,
      createdAt: 1,
      updatedAt: 1,
    });
    await store.writeBatch({
      messages: [
        {
          id: last,
          status: 'delivered',
          updatedAt: 1,
          tenantId: 'tenant-a',
          recipient: PHONE,
          sender: SENDER,
        },
      ],
      events: [],
    });
  });
  after(() => store.close());

  const receive = async (answersProviderMessageId?: string) => {
    const outcome = await receiver.receive('aws-main', {
      from: PHONE,
      to: SENDER,
      body: 'Thanks',
      providerMessageId: newId(),
      ...(answersProviderMessageId ? { answersProviderMessageId } : {}),
    });
    assert.equal(outcome.result, 'stored');
    return outcome.result === 'stored' ? outcome.record.inReplyTo : undefined;
  };

  test("the message the provider names, by the id it gave it, when it is this tenant's", async () => {
    const named = newId();
    await cache.set(
      Markers.providerMessage('aws-main', 'pm-1'),
      JSON.stringify({ messageId: named, tenantId: 'tenant-a' }),
    );
    await cache.set(
      Markers.providerMessage('aws-main', 'pm-2'),
      JSON.stringify({ messageId: newId(), tenantId: 'tenant-b' }),
    );
    assert.equal(await receive('pm-1'), named);
    assert.equal(await receive('pm-2'), last, "another tenant's message is never named");
    assert.equal(await receive('pm-unknown'), last);
  });

  test('else the newest message the tenant sent that number from that sender', async () => {
    assert.equal(await receive(), last);
  });
});
