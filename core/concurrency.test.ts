import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupBy, KeyedSequence, mapLimit } from './concurrency.ts';

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

test('KeyedSequence runs one key’s tasks in the order handed in, other keys alongside, past a failure', async () => {
  const sequence = new KeyedSequence();
  const events: string[] = [];
  const task =
    (name: string, ms: number, fail = false) =>
    async () => {
      events.push(`${name} start`);
      await sleep(ms);
      events.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    };
  const a1 = sequence.run('a', task('a1', 30, true));
  const a2 = sequence.run('a', task('a2', 1));
  const b1 = sequence.run('b', task('b1', 1));
  assert.equal(sequence.size, 2);
  await assert.rejects(a1, /a1/);
  assert.equal(await a2, 'a2');
  assert.equal(await b1, 'b1');
  assert.ok(events.indexOf('b1 end') < events.indexOf('a1 end'), 'another key does not wait');
  assert.ok(events.indexOf('a2 start') > events.indexOf('a1 end'), 'the same key waits for the one before');
  await sleep(0);
  assert.equal(sequence.size, 0, 'keys with nothing left are forgotten');
});
