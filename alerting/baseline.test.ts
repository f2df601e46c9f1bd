import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Baselines } from './baseline.ts';

const KEY = 'delivered_rate{country=GB,provider=a}@60s';

/** Observes `value` every 10 s for `ms` from `clock.now`. */
function feed(b: Baselines, clock: { now: number }, value: number, ms: number, slow = false) {
  for (let t = 0; t < ms; t += 10_000) {
    clock.now += 10_000;
    b.observe(KEY, value, clock.now, slow);
  }
}

test('a baseline is used only after its warm-up, and the warming count says how many wait', () => {
  const b = new Baselines();
  const clock = { now: 0 };
  feed(b, clock, 0.95, 9 * 60_000);
  assert.equal(b.get(KEY), undefined);
  assert.equal(b.warming, 1);
  feed(b, clock, 0.95, 2 * 60_000);
  assert.ok(Math.abs(b.get(KEY)! - 0.95) < 1e-9);
  assert.equal(b.warming, 0);
});

test('an abnormal value is never where a baseline starts: a provider dead from the start is not its normal', () => {
  const b = new Baselines();
  const clock = { now: 0 };
  feed(b, clock, 0, 30 * 60_000, true);
  assert.equal(b.get(KEY), undefined);
  assert.deepEqual(b.snapshot(), [], 'nothing worth keeping');
  // Once it delivers, the baseline starts from what it does then.
  feed(b, clock, 0.9, 11 * 60_000);
  assert.ok(Math.abs(b.get(KEY)! - 0.9) < 1e-9, `baseline ${b.get(KEY)}`);
});

test('a prior is usable at once, outweighed by what the series really does, and never replaces what is known', () => {
  const b = new Baselines();
  assert.equal(b.seed(KEY, 0.9, 0), true);
  assert.ok(Math.abs(b.get(KEY)! - 0.9) < 1e-9);
  const clock = { now: 0 };
  feed(b, clock, 0.6, 3 * 60 * 60_000);
  assert.ok(Math.abs(b.get(KEY)! - 0.6) < 0.02, `after 3 h: ${b.get(KEY)}`);
  assert.equal(b.seed(KEY, 0.9, clock.now), false);
  assert.ok(Math.abs(b.get(KEY)! - 0.6) < 0.02);
});

test('a snapshot restored into a new process judges at once, the same as the one it came from', () => {
  const first = new Baselines();
  const clock = { now: 1_000_000 };
  feed(first, clock, 0.93, 20 * 60_000);
  const kept = first.snapshot();
  assert.equal(kept.length, 1);

  const second = new Baselines();
  assert.equal(second.restore(kept, clock.now + 60_000), 1);
  assert.equal(second.get(KEY), first.get(KEY));
  // Both go on the same way from there.
  first.observe(KEY, 0.5, clock.now + 60_000);
  second.observe(KEY, 0.5, clock.now + 60_000);
  assert.equal(second.get(KEY), first.get(KEY));
});

test('restore keeps what this process has seen more of, and skips series past their forget time', () => {
  const clock = { now: 0 };
  const local = new Baselines();
  feed(local, clock, 0.8, 60 * 60_000);
  const stored = [
    { key: KEY, sum: 0.05, weight: 0.1, at: clock.now },
    { key: 'old', sum: 0.5, weight: 0.5, at: clock.now - 4 * 60 * 60_000 },
    { key: 'new', sum: 0.45, weight: 0.5, at: clock.now },
  ];
  assert.equal(local.restore(stored, clock.now), 1);
  assert.ok(Math.abs(local.get(KEY)! - 0.8) < 1e-9);
  assert.equal(local.get('old'), undefined);
  assert.ok(Math.abs(local.get('new')! - 0.9) < 1e-9);
});
