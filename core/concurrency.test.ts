import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupBy, mapLimit } from './concurrency.ts';

test('mapLimit keeps at most `limit` workers in flight and returns results in order', async () => {
  let running = 0;
  let most = 0;
  const results = await mapLimit([5, 1, 4, 2, 3], 2, async (ms) => {
    most = Math.max(most, ++running);
    await sleep(ms);
    running--;
    return ms * 10;
  });
  assert.deepEqual(results, [50, 10, 40, 20, 30]);
  assert.equal(most, 2);
});

test('mapLimit rejects only after every started worker has settled, and starts none after the error', async () => {
  const events: string[] = [];
  const outcome = mapLimit(['slow', 'fails', 'later'], 2, async (item) => {
    events.push(`start ${item}`);
    if (item === 'fails') throw new Error('boom');
    await sleep(50);
    events.push(`end ${item}`);
    return item;
  });
  await assert.rejects(outcome, /boom/);
  // The slow one ended before the rejection; the one after the failure never started.
  assert.deepEqual(events, ['start slow', 'start fails', 'end slow']);
});

test('groupBy keeps each key’s items in order', () => {
  assert.deepEqual(
    groupBy(['a1', 'b1', 'a2', 'b2'], (s) => s[0]!),
    [
      ['a1', 'a2'],
      ['b1', 'b2'],
    ],
  );
});
