import assert from 'node:assert/strict';
import { test } from 'node:test';
import { instantOf, nextWallTime } from './schedule.ts';

test('09:00 in Asia/Shanghai is 01:00 UTC', () => {
  assert.equal(
    new Date(instantOf({ local: '2026-12-07T09:00', timeZone: 'Asia/Shanghai' })).toISOString(),
    '2026-12-07T01:00:00.000Z',
  );
});

test('a daily run keeps its wall time across a DST change', () => {
  const first = { local: '2026-03-07T09:00', timeZone: 'America/New_York' };
  const second = nextWallTime(first, 1, 'daily');
  assert.equal(second.local, '2026-03-08T09:00');
  // EST (-5) before the change, EDT (-4) after it.
  assert.equal(new Date(instantOf(first)).toISOString(), '2026-03-07T14:00:00.000Z');
  assert.equal(new Date(instantOf(second)).toISOString(), '2026-03-08T13:00:00.000Z');
});

test('weekly runs are seven local days apart', () => {
  assert.equal(
    nextWallTime({ local: '2026-12-28T08:30', timeZone: 'UTC' }, 1, 'weekly').local,
    '2027-01-04T08:30',
  );
});

test('a monthly run on the 31st uses the last day of shorter months and comes back to the 31st', () => {
  const first = { local: '2027-01-31T10:00', timeZone: 'Europe/Paris' };
  assert.equal(nextWallTime(first, 1, 'monthly').local, '2027-02-28T10:00');
  assert.equal(nextWallTime(first, 2, 'monthly').local, '2027-03-31T10:00');
  assert.equal(nextWallTime(first, 3, 'monthly').local, '2027-04-30T10:00');
});

test('a wall time that is not a date is refused', () => {
  assert.throws(() => instantOf({ local: '2026-02-30T09:00', timeZone: 'UTC' }), RangeError);
});
