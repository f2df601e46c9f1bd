import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PigeonError } from './errors.ts';
import {
  Backoff,
  backoffDelay,
  DEFAULT_BACKOFF,
  exponentialBackoff,
  isPermanent,
  isRetriable,
  retriableFlag,
  type ScheduleBackoff,
} from './retry.ts';

const middle = () => 0.5;

test('an exponential policy grows by its factor and stops at its maximum', () => {
  const policy = exponentialBackoff({ initialMs: 200, factor: 2, maxMs: 5_000, jitter: 0 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 100, 10_000].map((n) => backoffDelay(n, policy)),
    [200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000, 5_000],
  );
});

test('a schedule policy reads its table and repeats the last step', () => {
  const policy: ScheduleBackoff = { kind: 'schedule', stepsMs: [1_000, 5_000, 15_000], jitter: 0 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 50].map((n) => backoffDelay(n, policy)),
    [1_000, 1_000, 5_000, 15_000, 15_000, 15_000],
  );
});

test('jitter spreads each wait evenly around its base', () => {
  const policy = exponentialBackoff({ initialMs: 1_000, jitter: 0.2 });
  assert.equal(
    backoffDelay(1, policy, () => 0),
    800,
  );
  assert.equal(backoffDelay(1, policy, middle), 1_000);
  assert.equal(
    backoffDelay(1, policy, () => 0.999_999),
    1_200,
  );
});

test('the defaults live in one place: from 100 ms doubling to 2 s, ±20 %', () => {
  assert.deepEqual(DEFAULT_BACKOFF, {
    kind: 'exponential',
    initialMs: 100,
    factor: 2,
    maxMs: 2_000,
    jitter: 0.2,
  });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, DEFAULT_BACKOFF, middle)),
    [100, 200, 400, 800, 1_600, 2_000],
  );
});

test('a backoff grows with failures in a row and starts over after a success', () => {
  const backoff = new Backoff(exponentialBackoff({ initialMs: 100, maxMs: 400, jitter: 0 }));
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next()], [100, 200, 400, 400]);
  assert.equal(backoff.failures, 4);
  backoff.reset();
  assert.equal(backoff.next(), 100);
});

test('whether to retry is read from the error’s retriable flag alone', () => {
  assert.equal(isRetriable(new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE')), true);
  assert.equal(isPermanent(new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE')), false);
  assert.equal(isRetriable(new PigeonError('PIGEON_ERR_STORE_REJECTED')), false);
  assert.equal(isPermanent(new PigeonError('PIGEON_ERR_STORE_REJECTED')), true);
  // kafkajs and alert channel errors carry the same flag.
  assert.equal(isRetriable(Object.assign(new Error('leader not available'), { retriable: true })), true);
  assert.equal(isPermanent(Object.assign(new Error('topic authorization'), { retriable: false })), true);
});

test('an error without a flag is neither retriable nor permanent: its caller decides', () => {
  for (const err of [
    new Error('boom'),
    new TypeError('x is undefined'),
    'text',
    undefined,
    null,
    { retriable: 'yes' },
  ]) {
    assert.equal(retriableFlag(err), undefined);
    assert.equal(isRetriable(err), false);
    assert.equal(isPermanent(err), false);
  }
});
