import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FULL_COUNT_SPACING,
  fullCountDue,
  inLaneOf,
  type LaneTracking,
  progressOf,
  unknownUnstoredOf,
} from './run-progress.ts';

const c = (run: number, nextRow: number) => ({ run, nextRow, recipientCount: 1_000 });

test('published messages the persister has not stored yet still count as in the lane', () => {
  const p = progressOf(c(0, 600), [{ status: 'queued', errorCode: null, count: 100 }], 0);
  assert.equal(p.expected, 600);
  assert.equal(p.inLane, 600);
  assert.equal(p.done, false);
});

test('messages the bridge took leave the lane; rows set aside unsent are not expected', () => {
  const p = progressOf(
    c(0, 1_000),
    [
      { status: 'delivered', errorCode: null, count: 900 },
      { status: 'queued', errorCode: null, count: 50 },
    ],
    50,
  );
  assert.equal(p.expected, 950);
  assert.equal(p.inLane, 50);
  assert.equal(p.done, false);
});

test('a run is done once every row is expanded and every message settled', () => {
  const counts = [
    { status: 'delivered' as const, errorCode: null, count: 990 },
    { status: 'skipped' as const, errorCode: 'OPTED_OUT', count: 5 },
  ];
  assert.equal(progressOf(c(0, 1_000), counts, 5).done, true);
  assert.equal(progressOf(c(0, 999), counts, 5).done, false, 'a row left');
  assert.equal(
    progressOf(c(0, 1_000), [...counts, { status: 'submitted', errorCode: null, count: 1 }], 4).done,
    false,
    'a receipt to come',
  );
  assert.equal(progressOf(c(0, 1_000), counts.slice(0, 1), 5).done, false, 'not all stored yet');
});

test("a recurring campaign's earlier runs count in its totals", () => {
  const p = progressOf(c(2, 0), [{ status: 'delivered', errorCode: null, count: 2_000 }], 0);
  assert.equal(p.expected, 2_000);
  assert.equal(p.inLane, 0);
  assert.equal(p.done, false, 'the new run has rows to expand');
});

const tracking = (over: Partial<LaneTracking> = {}): LaneTracking => ({
  unstored: new Set(),
  unknownUnstored: 0,
  queued: 0,
  lastFullCount: { at: 0, tookMs: 100 },
  ...over,
});
const none = { queued: 0, submitted: 0 };

test('between full counts the lane is the stored queued messages plus the published ones not stored', () => {
  const t = tracking({ unstored: new Set(['a', 'b']), unknownUnstored: 3, queued: 40 });
  assert.equal(inLaneOf(t), 45);
  // The same figure as the full count's, for the same messages: 600 published, 100 taken by the
  // bridge, 40 stored and queued, the persister behind by 5 (2 of this runner's, 3 of an earlier one).
  const p = progressOf(
    c(0, 600),
    [
      { status: 'queued', errorCode: null, count: 40 },
      { status: 'delivered', errorCode: null, count: 555 },
    ],
    0,
  );
  assert.equal(p.inLane, 600 - 555);
  assert.equal(unknownUnstoredOf(p, tracking({ unstored: new Set(['a', 'b']) })), 3);
  assert.equal(unknownUnstoredOf(p, tracking({ unstored: new Set(['a', 'b', 'c', 'd', 'e', 'f']) })), 0);
});

test('the first look at a run counts it in full; after that only for an earlier holder’s messages or the end', () => {
  const expanding = { nextRow: 500, recipientCount: 1_000 };
  const expanded = { nextRow: 1_000, recipientCount: 1_000 };
  const later = 100 * FULL_COUNT_SPACING;
  assert.equal(fullCountDue(expanding, tracking({ lastFullCount: undefined }), none, 0, 500), true);
  assert.equal(fullCountDue(expanding, tracking(), none, later, 500), false, 'rows left: nothing to learn');
  assert.equal(fullCountDue(expanding, tracking({ unknownUnstored: 1 }), none, later, 500), true);
  assert.equal(fullCountDue(expanded, tracking(), none, later, 500), true, 'maybe over');
  assert.equal(fullCountDue(expanded, tracking(), { queued: 0, submitted: 1 }, later, 500), false);
  assert.equal(fullCountDue(expanded, tracking({ unstored: new Set(['a']) }), none, later, 500), false);
});

test('full counts keep ten of their durations apart, and at least the count interval', () => {
  const expanded = { nextRow: 1_000, recipientCount: 1_000 };
  const slow = tracking({ lastFullCount: { at: 0, tookMs: 800 } });
  assert.equal(fullCountDue(expanded, slow, none, 800 * FULL_COUNT_SPACING - 1, 500), false);
  assert.equal(fullCountDue(expanded, slow, none, 800 * FULL_COUNT_SPACING, 500), true);
  const quick = tracking({ lastFullCount: { at: 0, tookMs: 1 } });
  assert.equal(fullCountDue(expanded, quick, none, 499, 500), false);
  assert.equal(fullCountDue(expanded, quick, none, 500, 500), true);
});
