import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CAMPAIGN_CANCELLED_CODE } from '../../../core/campaign-cancel.ts';
import { campaignProgress } from './progress.ts';

const T0 = 1_767_225_600_000;

test('counts by status fold into the progress groups, skips by reason, cancellations apart', () => {
  const progress = campaignProgress(
    [
      { status: 'queued', errorCode: null, count: 10 },
      { status: 'submitted', errorCode: null, count: 5 },
      { status: 'delivered', errorCode: null, count: 70 },
      { status: 'undelivered', errorCode: 'UNREACHABLE', count: 2 },
      { status: 'failed', errorCode: 'INVALID_NUMBER', count: 1 },
      { status: 'expired', errorCode: null, count: 1 },
      { status: 'skipped', errorCode: 'OPTED_OUT', count: 4 },
      { status: 'skipped', errorCode: 'FREQUENCY_CAPPED', count: 3 },
      { status: 'skipped', errorCode: CAMPAIGN_CANCELLED_CODE, count: 2 },
    ],
    { recipientCount: 100, invalidCount: 7, startedAt: T0 },
    T0 + 10_000,
  );
  assert.equal(progress.pending, 2);
  assert.deepEqual(
    [
      progress.queued,
      progress.submitted,
      progress.delivered,
      progress.failed,
      progress.skipped,
      progress.cancelled,
    ],
    [10, 5, 70, 4, 7, 2],
  );
  assert.deepEqual(progress.skippedReasons, { OPTED_OUT: 4, FREQUENCY_CAPPED: 3 });
  assert.equal(progress.invalid, 7);
  // 88 left queued in 10 s: 8.8/s; 12 to go (10 queued + 2 pending) take 1.364 s more.
  assert.equal(progress.rate, 8.8);
  assert.equal(progress.eta, T0 + 10_000 + Math.ceil((12 / 8.8) * 1000));
});

test('before the run starts there is no rate or ETA, and when nothing is left no ETA', () => {
  const waiting = campaignProgress([], { recipientCount: 50, invalidCount: 0, startedAt: null }, T0);
  assert.deepEqual([waiting.pending, waiting.rate, waiting.eta], [50, null, null]);
  const done = campaignProgress(
    [{ status: 'delivered', errorCode: null, count: 50 }],
    { recipientCount: 50, invalidCount: 0, startedAt: T0 },
    T0 + 5_000,
  );
  assert.deepEqual([done.pending, done.rate, done.eta], [0, 10, null]);
});
