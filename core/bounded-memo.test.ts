import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedMemo } from './bounded-memo.ts';

test('computes each input once while it stays, undefined results included', () => {
  const seen: string[] = [];
  const memo = new BoundedMemo((key: string) => {
    seen.push(key);
    return key.startsWith('+') ? key.length : undefined;
  }, 10);
  assert.equal(memo.get('+123'), 4);
  assert.equal(memo.get('+123'), 4);
  assert.equal(memo.get('abc'), undefined);
  assert.equal(memo.get('abc'), undefined);
  assert.deepEqual(seen, ['+123', 'abc']);
});

test('never holds more than its bound, dropping the entry stored longest ago', () => {
  const seen: number[] = [];
  const memo = new BoundedMemo((key: number) => {
    seen.push(key);
    return key * 2;
  }, 3);
  for (const key of [1, 2, 3, 4]) memo.get(key);
  assert.equal(memo.size, 3);
  assert.equal(memo.get(4), 8);
  assert.equal(memo.get(2), 4);
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.equal(memo.get(1), 2); // evicted first, so computed again
  assert.deepEqual(seen, [1, 2, 3, 4, 1]);
  assert.equal(memo.size, 3);
});

test('refuses a bound that is not a positive integer', () => {
  for (const bound of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new BoundedMemo((k: string) => k, bound), RangeError);
  }
});
