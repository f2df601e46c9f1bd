import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressOf } from './run-progress.ts';

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
