import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryCache } from '../core/cache/memory-cache.ts';
import { Markers } from '../core/markers.ts';
import type { ParsedReceipt } from '../providers/provider.ts';
import { matchReceipts } from './receipt-matcher.ts';

const receipt = (
  providerMessageId: string,
  status: ParsedReceipt['status'],
  reference?: string,
): ParsedReceipt => ({
  providerMessageId,
  status,
  providerStatus: status.toUpperCase(),
  ...(reference ? { reference } : {}),
});

async function sentInParts(cache: MemoryCache, parts: string[]) {
  const owner = JSON.stringify({ messageId: 'm1', tenantId: 't1', partIds: parts });
  for (const id of parts) await cache.set(Markers.providerMessage('p', id), owner);
}

test('a receipt is matched by the provider message id the bridge stored', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  await cache.set(Markers.providerMessage('p', 'pm-1'), JSON.stringify({ messageId: 'm1', tenantId: 't1' }));
  const { events } = await matchReceipts('p', [receipt('pm-1', 'delivered')], cache);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.messageId, 'm1');
  assert.equal(events[0]!.tenantId, 't1');
  assert.equal(await cache.get(Markers.delivered('m1')), '1', 'the receipt check will find it delivered');
});

test('a receipt without a stored id is matched by the client reference the provider echoed', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const { events, unmatched } = await matchReceipts(
    'p',
    [receipt('x', 'undelivered', 'm9'), receipt('y', 'delivered')],
    cache,
  );
  assert.deepEqual(
    events.map((e) => e.messageId),
    ['m9'],
  );
  assert.equal(unmatched, 1, 'one with neither is counted, not published');
});

test('a message in three parts is delivered only when every part is, whatever the order and repeats', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  await sentInParts(cache, ['a', 'b', 'c']);
  for (const [id, expectedEvents] of [
    ['b', 0],
    ['b', 0],
    ['a', 0],
    ['c', 1],
  ] as const) {
    const { events, pending } = await matchReceipts('p', [receipt(id, 'delivered')], cache);
    assert.equal(events.length, expectedEvents, `after part ${id}`);
    if (expectedEvents === 0) assert.equal(pending, 1);
  }
  // The provider retries the last receipt (its 200 was lost): the same status comes out again.
  const replay = await matchReceipts('p', [receipt('c', 'delivered')], cache);
  assert.equal(replay.events[0]?.status, 'delivered');
});

test('one undelivered part makes the message undelivered at once', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  await sentInParts(cache, ['a', 'b']);
  await matchReceipts('p', [receipt('a', 'delivered')], cache);
  const { events } = await matchReceipts('p', [receipt('b', 'undelivered')], cache);
  assert.equal(events[0]?.status, 'undelivered');
  assert.equal(await cache.get(Markers.delivered('m1')), undefined);
});
