import assert from 'node:assert/strict';
import { test } from 'node:test';
import { instantOf, nextRunAt } from './schedule.ts';

const iso = (ms: number) => new Date(ms).toISOString();

test('09:00 in Asia/Shanghai is 01:00 UTC', () => {
  assert.equal(iso(instantOf('2026-12-07T09:00', 'Asia/Shanghai')), '2026-12-07T01:00:00.000Z');
});

test('a daily run keeps its wall time across a DST change', () => {
  const first = instantOf('2026-03-07T09:00', 'America/New_York');
  // EST (-5) before the change, EDT (-4) after it.
  assert.equal(iso(first), '2026-03-07T14:00:00.000Z');
  assert.equal(iso(nextRunAt(first, 'America/New_York', 'daily')), '2026-03-08T13:00:00.000Z');
});

test('weekly runs are seven local days apart, across a year end', () => {
  const first = instantOf('2026-12-28T08:30', 'Asia/Shanghai');
  assert.equal(iso(nextRunAt(first, 'Asia/Shanghai', 'weekly')), '2027-01-04T00:30:00.000Z');
});

test('a monthly run keeps its day, or takes the last day of a shorter month', () => {
  const zone = 'Europe/Paris';
  assert.equal(
    iso(nextRunAt(instantOf('2027-01-15T10:00', zone), zone, 'monthly')),
    '2027-02-15T09:00:00.000Z',
  );
  assert.equal(
    iso(nextRunAt(instantOf('2027-01-31T10:00', zone), zone, 'monthly')),
    '2027-02-28T09:00:00.000Z',
  );
  // Paris is on summer time (+2) by April.
  assert.equal(
    iso(nextRunAt(instantOf('2027-03-31T10:00', zone), zone, 'monthly')),
    '2027-04-30T08:00:00.000Z',
  );
});

test('a monthly run first due on the 31st goes back to the 31st after a shorter month', () => {
  const zone = 'Asia/Shanghai';
  const first = instantOf('2027-01-31T09:00', zone);
  const runs = [first];
  for (let i = 0; i < 4; i++) runs.push(nextRunAt(runs.at(-1)!, zone, 'monthly', first));
  assert.deepEqual(runs.map(iso), [
    '2027-01-31T01:00:00.000Z',
    '2027-02-28T01:00:00.000Z',
    '2027-03-31T01:00:00.000Z',
    '2027-04-30T01:00:00.000Z',
    '2027-05-31T01:00:00.000Z',
  ]);
});

test('a wall time that is not a date is refused', () => {
  assert.throws(() => instantOf('2026-02-30T09:00', 'UTC'), RangeError);
});
