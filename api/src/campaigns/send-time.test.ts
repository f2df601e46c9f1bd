import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendInstant } from './send-time.ts';

test('a local wall time is read in its time zone', () => {
  assert.equal(sendInstant('2026-12-07T09:00', 'Asia/Shanghai'), Date.parse('2026-12-07T01:00:00Z'));
  assert.equal(sendInstant('2026-07-01T09:00:30', 'America/New_York'), Date.parse('2026-07-01T13:00:30Z'));
  assert.equal(sendInstant('2026-01-15T09:00', 'America/New_York'), Date.parse('2026-01-15T14:00:00Z'));
  assert.equal(sendInstant('2026-03-29T12:00', 'Europe/London'), Date.parse('2026-03-29T11:00:00Z'));
});

test('an ISO instant is taken as it is, whatever the zone', () => {
  assert.equal(sendInstant('2026-12-07T09:00:00Z', 'Asia/Shanghai'), Date.parse('2026-12-07T09:00:00Z'));
  assert.equal(sendInstant('2026-12-07T09:00+08:00', undefined), Date.parse('2026-12-07T01:00:00Z'));
});

test('a wall time a DST change skips or repeats resolves to the earlier of its readings', () => {
  // New York skips 02:00–03:00 on 2026-03-08 and repeats 01:00–02:00 on 2026-11-01.
  assert.equal(sendInstant('2026-03-08T02:30', 'America/New_York'), Date.parse('2026-03-08T06:30:00Z'));
  assert.equal(sendInstant('2026-11-01T01:30', 'America/New_York'), Date.parse('2026-11-01T05:30:00Z'));
});

test('bad times and zones are validation errors naming the field', () => {
  for (const [sendAt, zone, field] of [
    ['2026-12-07T09:00', 'Mars/Olympus', '/timeZone'],
    ['2026-12-07T09:00', undefined, '/timeZone'],
    ['2026-02-30T09:00', 'UTC', '/sendAt'],
    ['tomorrow', 'UTC', '/sendAt'],
    ['2026-12-07T24:00', 'UTC', '/sendAt'],
  ] as const) {
    assert.throws(
      () => sendInstant(sendAt, zone),
      (err: { code?: string; errors?: { field: string }[] }) =>
        err.code === 'PIGEON_ERR_VALIDATION' && err.errors?.[0]?.field === field,
      `${sendAt} ${zone}`,
    );
  }
});
