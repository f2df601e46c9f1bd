import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryCache } from '../core/cache/memory-cache.ts';
import { Markers } from '../core/markers.ts';
import type { ParsedReceipt } from '../providers/provider.ts';
import { matchReceipts, recordAcceptance, recordHandover } from './receipt-matcher.ts';

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

const M1 = { messageId: 'm1', tenantId: 't1' };

async function sentInParts(cache: MemoryCache, parts: string[]) {
  await recordHandover(cache, 'p', M1);
  await recordAcceptance(cache, 'p', M1, parts);
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

test('a receipt without a stored id is matched by the client reference from the provider handed the message', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  // Handed over, but the answer never came (a timeout after the provider took it): no id stored.
  await recordHandover(cache, 'p', { messageId: 'm9', tenantId: 't9' });
  const { events, unmatched } = await matchReceipts(
    'p',
    [receipt('x', 'undelivered', 'm9'), receipt('y', 'delivered')],
    cache,
  );
  assert.deepEqual(
    events.map((e) => [e.messageId, e.tenantId, e.provider]),
    [['m9', 't9', 'p']],
  );
  assert.equal(unmatched, 1, 'one with neither is counted, not published');
});

test('a receipt whose reference names no message we sent is unmatched and becomes no event', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const { events, unmatched, pending } = await matchReceipts(
    'p',
    [receipt('x', 'delivered', '01JUNKNOWNMESSAGE0000000000')],
    cache,
  );
  assert.deepEqual(events, []);
  assert.equal(unmatched, 1);
  assert.equal(pending, 0);
  assert.equal(await cache.get(Markers.delivered('01JUNKNOWNMESSAGE0000000000')), undefined);
});

test('a receipt from another provider never matches a message, by reference or by message id', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  await recordHandover(cache, 'sim', M1);
  await recordAcceptance(cache, 'sim', M1, ['SIM1']);
  const { events, unmatched } = await matchReceipts(
    'twilio',
    [receipt('SM1', 'undelivered', 'm1'), receipt('SIM1', 'undelivered'), receipt('SIM1', 'delivered', 'm1')],
    cache,
  );
  assert.deepEqual(events, [], 'the carrier was the simulator, not twilio');
  assert.equal(unmatched, 3);
  assert.equal(await cache.get(Markers.delivered('m1')), undefined, 'no receipt check is fooled either');
  // The carrier's own receipts still match, by its message id and by reference.
  const own = await matchReceipts(
    'sim',
    [receipt('SIM1', 'delivered'), receipt('SIM2', 'delivered', 'm1')],
    cache,
  );
  assert.deepEqual(
    own.events.map((e) => [e.messageId, e.tenantId]),
    [
      ['m1', 't1'],
      ['m1', 't1'],
    ],
  );
});

test('after a failover, receipts of each provider handed the message match', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  await recordHandover(cache, 'a', M1);
  await recordHandover(cache, 'b', M1);
  await recordAcceptance(cache, 'b', M1, ['B1']);
  const fromA = await matchReceipts('a', [receipt('A1', 'delivered', 'm1')], cache);
  const fromB = await matchReceipts('b', [receipt('B1', 'delivered')], cache);
  assert.equal(fromA.events[0]?.messageId, 'm1', 'a may have sent it after all (its answer was lost)');
  assert.equal(fromB.events[0]?.messageId, 'm1');
  assert.equal((await matchReceipts('c', [receipt('C1', 'delivered', 'm1')], cache)).unmatched, 1);
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

test('part receipts found by our reference still wait for every part', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  await sentInParts(cache, ['a', 'b']);
  // Only the reference leads to the message (as if the id markers were gone): it knows the parts.
  for (const id of ['a', 'b']) await cache.del(Markers.providerMessage('p', id));
  const first = await matchReceipts('p', [receipt('a', 'delivered', 'm1')], cache);
  assert.deepEqual([first.events.length, first.pending], [0, 1]);
  const second = await matchReceipts('p', [receipt('b', 'delivered', 'm1')], cache);
  assert.equal(second.events[0]?.status, 'delivered');
});

test('one undelivered part makes the message undelivered at once', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  await sentInParts(cache, ['a', 'b']);
  await matchReceipts('p', [receipt('a', 'delivered')], cache);
  const { events } = await matchReceipts('p', [receipt('b', 'undelivered')], cache);
  assert.equal(events[0]?.status, 'undelivered');
  assert.equal(await cache.get(Markers.delivered('m1')), undefined);
});
