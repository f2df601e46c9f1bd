import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeTime, isValid } from 'ulid';
import { newId } from './ids.ts';

test('ids are valid ULIDs carrying their creation time', () => {
  const now = Date.UTC(2026, 10, 23, 10, 0, 0, 123);
  const id = newId(now);
  assert.equal(id.length, 26);
  assert.ok(isValid(id));
  assert.equal(decodeTime(id), now);
});

test('ids sort in creation order, also within one millisecond and across a clock step back', () => {
  const ids: string[] = [];
  const t = Date.now() + 10_000;
  for (let i = 0; i < 5000; i++) ids.push(newId(t));
  ids.push(newId(t - 5)); // the clock went back: still after the previous id
  for (let i = 0; i < 5000; i++) ids.push(newId(t + 1 + Math.floor(i / 100)));
  const sorted = [...ids].sort();
  assert.deepEqual(ids, sorted);
  assert.equal(new Set(ids).size, ids.length);
});

test('the random part is unpredictable across milliseconds', () => {
  const randoms = new Set<string>();
  const base = Date.now() + 100_000;
  for (let i = 0; i < 2000; i++) randoms.add(newId(base + i).slice(10));
  assert.equal(randoms.size, 2000);
});
