import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CampaignStatusCount } from '../../../core/store/kinds/campaigns.ts';
import { FULL_COUNT_SPACING } from './run-progress.ts';
import { SharedStatusCounts } from './shared-counts.ts';

/** A count that takes `tookMs` on the test's clock and answers how many times it ran. */
function counter(clock: { now: number }, tookMs: number) {
  let runs = 0;
  const count = async (): Promise<CampaignStatusCount[]> => {
    runs++;
    const n = runs;
    await Promise.resolve();
    clock.now += tookMs;
    return [{ status: 'delivered', errorCode: null, count: n }];
  };
  return { count, runs: () => runs };
}

test('a slow count serves every request for ten of its durations, then counts again', async () => {
  const clock = { now: 0 };
  const c = counter(clock, 500);
  const shared = new SharedStatusCounts(c.count, () => clock.now);
  assert.equal((await shared.get('t', 'c1'))[0]!.count, 1);
  clock.now = 500 * FULL_COUNT_SPACING - 1;
  assert.equal((await shared.get('t', 'c1'))[0]!.count, 1, 'within ten durations: the same count');
  assert.equal(c.runs(), 1);
  clock.now = 500 * FULL_COUNT_SPACING;
  assert.equal((await shared.get('t', 'c1'))[0]!.count, 2);
  assert.equal((await shared.get('t', 'c2'))[0]!.count, 3, 'each campaign its own count');
});

test('requests during a count wait for that one; a quick count is never reused', async () => {
  const clock = { now: 0 };
  const c = counter(clock, 0);
  const shared = new SharedStatusCounts(c.count, () => clock.now);
  const [a, b] = await Promise.all([shared.get('t', 'c'), shared.get('t', 'c')]);
  assert.equal(a, b);
  assert.equal(c.runs(), 1);
  await shared.get('t', 'c');
  assert.equal(c.runs(), 2, 'a count that took no time is as fresh as counting again');
});

test('a failed count is not shared, and the oldest campaign leaves when full', async () => {
  const clock = { now: 0 };
  let fail = true;
  const shared = new SharedStatusCounts(
    async (_t, id) => {
      if (fail) throw new Error('store down');
      clock.now += 100;
      return [{ status: 'queued', errorCode: null, count: id.length }];
    },
    () => clock.now,
    2,
  );
  await assert.rejects(shared.get('t', 'c'), /store down/);
  fail = false;
  assert.equal((await shared.get('t', 'c'))[0]!.count, 1);
  await shared.get('t', 'cc');
  await shared.get('t', 'ccc');
  fail = true;
  await assert.rejects(shared.get('t', 'c'), /store down/, 'evicted: counted again');
  assert.equal((await shared.get('t', 'ccc'))[0]!.count, 3, 'still held');
});
