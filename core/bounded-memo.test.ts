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

test('never holds more than its bound; the oldest generation goes whole, what was used lately stays', () => {
  const seen: number[] = [];
  const memo = new BoundedMemo((key: number) => {
    seen.push(key);
    return key * 2;
  }, 4);
  for (const key of [1, 2, 3, 4]) memo.get(key);
  assert.equal(memo.size, 4);
  assert.equal(memo.get(1), 2, 'still held, in the older generation');
  assert.deepEqual(seen, [1, 2, 3, 4]);
  // Reading 1 again copied it forward and dropped the generation of 1 and 2: 2 is computed again.
  assert.equal(memo.get(2), 4);
  assert.deepEqual(seen, [1, 2, 3, 4, 2]);
  assert.equal(memo.get(1), 2, 'kept because it was used');
  assert.deepEqual(seen, [1, 2, 3, 4, 2]);
  for (let key = 100; key < 1_000; key++) {
    memo.get(key);
    assert.ok(memo.size <= 4, `holds ${memo.size}`);
  }
});

test('refuses a bound that is not an integer of at least 2', () => {
  for (const bound of [0, 1, -1, 1.5, Number.NaN]) {
    assert.throws(() => new BoundedMemo((k: string) => k, bound), RangeError);
  }
});
