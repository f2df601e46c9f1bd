import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import { judgeConversionFloor, judgeDeliveredFloor } from './floors.ts';

const floors = loadConfig({}).monitor.floors;

test('a class with enough due messages and nothing delivered is below the floor', () => {
  const verdict = judgeDeliveredFloor(floors, { transactional: { successes: 0, trials: 20 } });
  assert.deepEqual(verdict, { eligible: true, below: true, successes: 0, trials: 20 });
  assert.equal(judgeDeliveredFloor(floors, { transactional: { successes: 1, trials: 20 } }).below, true);
  assert.equal(judgeDeliveredFloor(floors, { transactional: { successes: 2, trials: 20 } }).below, false);
});

test('too few due messages decide nothing, and each class needs its own number', () => {
  assert.equal(judgeDeliveredFloor(floors, { transactional: { successes: 0, trials: 19 } }).eligible, false);
  // OTP is urgent and small: 10 codes are enough; marketing needs 50.
  assert.equal(judgeDeliveredFloor(floors, { otp: { successes: 0, trials: 10 } }).below, true);
  assert.equal(judgeDeliveredFloor(floors, { marketing: { successes: 0, trials: 49 } }).eligible, false);
  // A class nobody configured is judged by the default floor.
  assert.equal(judgeDeliveredFloor(floors, { unknown: { successes: 0, trials: 20 } }).below, true);
});

test('below only when every class with enough traffic is: one that delivers speaks for the route', () => {
  const verdict = judgeDeliveredFloor(floors, {
    transactional: { successes: 0, trials: 30 },
    otp: { successes: 12, trials: 12 },
    marketing: { successes: 0, trials: 5 },
  });
  assert.deepEqual(verdict, { eligible: true, below: false, successes: 12, trials: 42 });
});

test('a floor of 0 samples is off: a route that never sends receipts is not judged by it', () => {
  const off = { ...floors, delivered: { ...floors.delivered, marketing: { minSamples: 0, maxRate: 0.05 } } };
  assert.equal(judgeDeliveredFloor(off, { marketing: { successes: 0, trials: 10_000 } }).eligible, false);
});

test('OTP conversion at zero with enough codes sent is below its floor', () => {
  assert.deepEqual(judgeConversionFloor(floors, { successes: 0, trials: 20 }), {
    eligible: true,
    below: true,
    successes: 0,
    trials: 20,
  });
  assert.equal(judgeConversionFloor(floors, { successes: 0, trials: 19 }).eligible, false);
  assert.equal(judgeConversionFloor(floors, { successes: 3, trials: 40 }).below, false);
});
