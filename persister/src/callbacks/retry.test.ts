import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../../core/retry.ts';
import { CALLBACK_RETRY, nextAttemptAt } from './retry.ts';

const HOUR = 3_600_000;

test('waits double from 5 s and stops growing at an hour', () => {
  const middle = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 10, 11, 12, 30].map((n) => backoffDelay(n, CALLBACK_RETRY, middle)),
    [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 2_560_000, HOUR, HOUR, HOUR],
  );
});

test('each wait is spread by ±20 %', () => {
  assert.equal(
    backoffDelay(1, CALLBACK_RETRY, () => 0),
    4_000,
  );
  assert.equal(
    backoffDelay(1, CALLBACK_RETRY, () => 0.999_999),
    6_000,
  );
  assert.equal(
    backoffDelay(13, CALLBACK_RETRY, () => 0),
    HOUR * (1 - CALLBACK_RETRY.jitter),
  );
});

test('about 30 attempts fit in 24 hours', () => {
  let at = 0;
  let attempts = 1;
  for (let next = nextAttemptAt(1, at, 0, 24 * HOUR, () => 0.5); next !== undefined;) {
    at = next;
    attempts++;
    next = nextAttemptAt(attempts, at, 0, 24 * HOUR, () => 0.5);
  }
  assert.ok(attempts >= 28 && attempts <= 34, `${attempts} attempts`);
  assert.equal(at, 24 * HOUR, 'the last attempt is made at the deadline');
});

test('the last retry is clamped to the deadline, and nothing is scheduled from it on', () => {
  const createdAt = 1_000;
  assert.equal(
    nextAttemptAt(20, createdAt + 24 * HOUR - 60_000, createdAt, 24 * HOUR, () => 0.5),
    createdAt + 24 * HOUR,
  );
  assert.equal(nextAttemptAt(21, createdAt + 24 * HOUR, createdAt, 24 * HOUR), undefined);
  assert.equal(nextAttemptAt(1, createdAt + 25 * HOUR, createdAt, 24 * HOUR), undefined);
});
