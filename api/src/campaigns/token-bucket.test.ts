import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from './token-bucket.ts';

test('a rate cap releases its burst at once, then the rate per second of the clock', () => {
  const bucket = new TokenBucket(50, 0);
  assert.equal(bucket.available(0), 50);
  bucket.take(50, 0);
  assert.equal(bucket.available(0), 0);
  assert.equal(bucket.available(100), 5);
  assert.equal(bucket.available(1_000), 50);
  // Idle time never banks more than the burst.
  assert.equal(bucket.available(60_000), 50);
});

test('ten seconds of a 20/s cap release 200 rows however often the runner asks', () => {
  const bucket = new TokenBucket(20, 0);
  let released = 0;
  for (let now = 0; now <= 10_000; now += 37) {
    const n = bucket.available(now);
    bucket.take(n, now);
    released += n;
  }
  // The first second's burst plus ten seconds at the rate, give or take one token of rounding.
  assert.ok(released >= 219 && released <= 220, String(released));
});

test('no cap: always available', () => {
  const bucket = new TokenBucket(undefined, 0);
  bucket.take(1e9, 0);
  assert.equal(bucket.available(0), Number.POSITIVE_INFINITY);
});
