import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { localPeriods } from './local-periods.ts';
import { quietUntil } from './quiet-hours.ts';
import { countryTimeZone, recipientTimeZone } from './recipient-zone.ts';
import { isTimeZone } from './oncall.ts';

const at = (iso: string) => Date.parse(iso);
const NIGHTS = { start: '21:00', end: '08:00' };

describe('quiet hours', () => {
  test('an instant outside the window is not held', () => {
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-06-10T12:00:00Z')), undefined);
    // 20:59 BST is 19:59 UTC: a minute before the window.
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-06-10T19:59:00Z')), undefined);
  });

  test('the window starts at its start and is released at its end, by the local clock', () => {
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-06-10T20:00:00Z')), at('2026-06-11T07:00:00Z'));
    // Just before the end: still held, released at 08:00 local.
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-06-11T06:59:59Z')), at('2026-06-11T07:00:00Z'));
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-06-11T07:00:00Z')), undefined);
  });

  test('a night across the spring change is released at 08:00 summer time, an hour sooner in UTC', () => {
    // 22:00 GMT on Saturday 28 March 2026; the clocks go forward at 01:00 UTC on the 29th.
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-03-28T22:00:00Z')), at('2026-03-29T07:00:00Z'));
    // The same night in New York, whose change is on 8 March 2026 at 07:00 UTC.
    assert.equal(
      quietUntil(NIGHTS, 'America/New_York', at('2026-03-08T03:00:00Z')),
      at('2026-03-08T12:00:00Z'),
    );
  });

  test('a night across the autumn change is released at 08:00 winter time', () => {
    // 22:00 BST on Saturday 24 October 2026 is 21:00 UTC; clocks go back at 01:00 UTC on the 25th.
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-10-24T21:00:00Z')), at('2026-10-25T08:00:00Z'));
    // In the repeated hour (01:30 local, both times) the message is still held until 08:00 GMT.
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-10-25T00:30:00Z')), at('2026-10-25T08:00:00Z'));
    assert.equal(quietUntil(NIGHTS, 'Europe/London', at('2026-10-25T01:30:00Z')), at('2026-10-25T08:00:00Z'));
  });

  test('a window edge inside the skipped hour falls on the first instant after the gap', () => {
    // 02:30 does not exist in New York on 8 March 2026: the clocks jump from 02:00 EST to 03:00 EDT.
    const quiet = { start: '01:00', end: '02:30' };
    assert.equal(
      quietUntil(quiet, 'America/New_York', at('2026-03-08T06:30:00Z')),
      at('2026-03-08T07:00:00Z'),
    );
    assert.equal(quietUntil(quiet, 'America/New_York', at('2026-03-08T07:00:00Z')), undefined);
  });

  test('a weekday can have its own window or none, by the day the window starts', () => {
    // 2026-06-13 is a Saturday: its window runs 20:00 to 10:00 Sunday; Sunday night has none.
    const quiet = {
      ...NIGHTS,
      byWeekday: { saturday: { start: '20:00', end: '10:00' }, sunday: null },
    };
    const zone = 'Europe/Paris';
    // Saturday 20:30 CEST: held until Sunday 10:00 CEST.
    assert.equal(quietUntil(quiet, zone, at('2026-06-13T18:30:00Z')), at('2026-06-14T08:00:00Z'));
    // Sunday 23:00 CEST: no window starts on Sunday.
    assert.equal(quietUntil(quiet, zone, at('2026-06-14T21:00:00Z')), undefined);
    // Friday 20:30 CEST: the every-day window has not begun.
    assert.equal(quietUntil(quiet, zone, at('2026-06-12T18:30:00Z')), undefined);
  });

  test('windows that meet are followed to the last one’s end', () => {
    const quiet = { start: '21:00', end: '08:00', byWeekday: { monday: { start: '08:00', end: '12:00' } } };
    // Sunday 23:00 UTC in London (summer): the Sunday night window ends Monday 08:00, where Monday's begins.
    assert.equal(quietUntil(quiet, 'UTC', at('2026-06-14T23:00:00Z')), at('2026-06-15T12:00:00Z'));
  });
});

describe('recipient time zones', () => {
  test('NANP numbers take their area code’s zone, other countries their own', () => {
    assert.equal(recipientTimeZone('+14155550123'), 'America/Los_Angeles');
    assert.equal(recipientTimeZone('+12125550123'), 'America/New_York');
    assert.equal(recipientTimeZone('+13125550123'), 'America/Chicago');
    assert.equal(recipientTimeZone('+16025550123'), 'America/Phoenix');
    assert.equal(recipientTimeZone('+16045550123'), 'America/Vancouver');
    assert.equal(recipientTimeZone('+33612345678'), 'Europe/Paris');
    assert.equal(recipientTimeZone('+447400123456'), 'Europe/London');
  });

  test('Australian landlines by area digit, mobiles and multi-zone countries by their main zone', () => {
    assert.equal(recipientTimeZone('+61892345678'), 'Australia/Perth');
    assert.equal(recipientTimeZone('+61412345678'), 'Australia/Sydney');
    assert.equal(recipientTimeZone('+79161234567'), 'Europe/Moscow');
    assert.equal(recipientTimeZone('+8613800138000'), 'Asia/Shanghai');
  });

  test('every zone the tables name is one the platform knows', () => {
    for (const c of ['US', 'CA', 'AU', 'RU', 'BR', 'MX', 'ID', 'KZ', 'AR', 'CL', 'CN', 'DE', 'ES', 'PT']) {
      assert.ok(isTimeZone(countryTimeZone(c)!), c);
    }
    for (const c of ['NZ', 'MY', 'EC', 'CD', 'MN', 'UZ', 'UA', 'FR', 'JP', 'IN']) {
      assert.ok(isTimeZone(countryTimeZone(c)!), c);
    }
  });
});

describe('local calendar periods', () => {
  test('the day and ISO week end at the recipient’s midnights, across a DST change', () => {
    // Saturday 28 March 2026, 23:30 GMT in London; the 29th is 23 hours long.
    const periods = localPeriods('Europe/London', at('2026-03-28T23:30:00Z'));
    assert.equal(periods.day, '2026-03-28');
    assert.equal(periods.dayEndsAt, at('2026-03-29T00:00:00Z'));
    assert.equal(periods.week, '2026-03-23');
    // Monday 30 March 00:00 BST.
    assert.equal(periods.weekEndsAt, at('2026-03-29T23:00:00Z'));
    // Tokyo is already on Sunday.
    assert.equal(localPeriods('Asia/Tokyo', at('2026-03-28T23:30:00Z')).day, '2026-03-29');
  });
});
