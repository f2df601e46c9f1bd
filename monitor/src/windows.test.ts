import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LATENCY_BOUNDS_MS, quantileOf, SlidingWindows } from './windows.ts';

function windows() {
  const clock = { now: 1_000_000_000_000 };
  const w = new SlidingWindows({
    counters: ['ok', 'bad'] as const,
    histograms: ['lag'] as const,
    bucketMs: 10_000,
    horizonMs: 120_000,
    now: () => clock.now,
  });
  return { clock, w };
}

test('sums a counter over the last 1 and 5 minutes, the current bucket included', () => {
  const { clock, w } = windows();
  w.add('a', 'ok', 3);
  clock.now += 90_000;
  w.add('a', 'ok', 2);
  w.add('a', 'bad');
  assert.equal(w.sum('a', 'ok', 60_000), 2);
  assert.equal(w.sum('a', 'ok', 100_000), 5);
  assert.equal(w.sum('a', 'bad', 60_000), 1);
  assert.equal(w.sum('b', 'ok', 60_000), 0, 'an unknown key has nothing');
});

test('a window can end in the past, for cohorts that had time to mature', () => {
  const { clock, w } = windows();
  w.add('a', 'ok', 1);
  clock.now += 30_000;
  w.add('a', 'ok', 10);
  assert.equal(w.sum('a', 'ok', 20_000, clock.now - 20_000), 1);
});

test('buckets older than the horizon are reused, and writes that old are dropped', () => {
  const { clock, w } = windows();
  w.add('a', 'ok', 7);
  clock.now += 200_000;
  w.add('a', 'ok', 1);
  assert.equal(w.sum('a', 'ok', 120_000), 1);
  w.add('a', 'ok', 5, clock.now - 190_000);
  assert.equal(w.sum('a', 'ok', 120_000), 1, 'a write past the horizon is ignored');
  w.add('a', 'bad', 2, clock.now - 60_000);
  assert.equal(w.sum('a', 'bad', 120_000), 2, 'a late write inside the horizon lands in its own bucket');
});

test('a full turn of the ring clears the slot before counting again', () => {
  const { clock, w } = windows();
  w.add('a', 'ok', 4);
  clock.now += 130_000; // 13 buckets later: the same slot of a 13-slot ring
  w.add('a', 'ok', 1);
  assert.equal(w.sum('a', 'ok', 120_000), 1);
});

test('percentiles interpolate inside the histogram bins', () => {
  const { w } = windows();
  for (let i = 0; i < 90; i++) w.observe('a', 'lag', 40); // bin 25..50
  for (let i = 0; i < 10; i++) w.observe('a', 'lag', 4_000); // bin 2000..5000
  const bins = w.emptyBins();
  w.collectBins('a', 'lag', 60_000, Date.now() + 1e15, bins);
  assert.equal(w.quantile(bins, 0.5), undefined, 'a window far in the future holds nothing');
  const now = w.emptyBins();
  w.collectBins('a', 'lag', 60_000, 1_000_000_000_001, now);
  const p50 = w.quantile(now, 0.5)!;
  const p95 = w.quantile(now, 0.95)!;
  assert.ok(p50 > 25 && p50 <= 50, `p50 ${p50}`);
  assert.ok(p95 > 2_000 && p95 <= 5_000, `p95 ${p95}`);
});

test('the open-ended top bin reports its floor', () => {
  const bins = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  bins[LATENCY_BOUNDS_MS.length] = 3;
  assert.equal(quantileOf(bins, LATENCY_BOUNDS_MS, 0.99), LATENCY_BOUNDS_MS.at(-1));
  assert.equal(quantileOf(new Float64Array(bins.length), LATENCY_BOUNDS_MS, 0.5), undefined);
});

test('prune forgets keys that went quiet', () => {
  const { clock, w } = windows();
  w.add('a', 'ok');
  w.add('b', 'ok');
  clock.now += 60_000;
  w.add('b', 'ok');
  clock.now += 100_000;
  w.prune();
  assert.deepEqual([...w.keys()], ['b']);
});
