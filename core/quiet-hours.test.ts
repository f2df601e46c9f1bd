import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { seededRandom } from '../test/support/seeded-random.ts';
import { CLOCK_ZONES, instants } from '../test/support/time-zones.ts';
import { localPeriods } from './local-periods.ts';
import { quietUntil, quietUntilUncached } from './quiet-hours.ts';
import { countryTimeZone, recipientTimeZone } from './recipient-zone.ts';
import { isTimeZone, localOf } from './oncall.ts';
import type { QuietHours } from './store/kinds/messaging-policy.ts';

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

const SETTINGS: QuietHours[] = [
  // Across midnight.
  NIGHTS,
  // Edges in the hours some of the zones skip or repeat.
  { start: '01:30', end: '03:00' },
  // Per weekday: a short one across midnight, Saturday's chaining into Sunday's, none on Monday.
  {
    start: '22:00',
    end: '07:00',
    byWeekday: {
      friday: { start: '23:30', end: '00:30' },
      saturday: { start: '20:00', end: '10:00' },
      sunday: { start: '10:00', end: '12:00' },
      monday: null,
    },
  },
  // From and to midnight, and an empty one on Wednesday.
  {
    start: '00:00',
    end: '06:00',
    byWeekday: { wednesday: { start: '12:00', end: '12:00' }, thursday: { start: '18:00', end: '00:00' } },
  },
];

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether the local clock at `now` is within 20 minutes of midnight or of an edge of a window. */
function isNearEdge(quiet: QuietHours, zone: string, now: number): boolean {
  const windows = [quiet, ...Object.values(quiet.byWeekday ?? {})].filter(
    (w) => w !== null && w !== undefined,
  );
  const edges = [0, ...windows.flatMap((w) => [minutesOf(w.start), minutesOf(w.end)])];
  const minute = localOf(now, zone).minute;
  return edges.some((edge) => Math.min(Math.abs(minute - edge), 1440 - Math.abs(minute - edge)) <= 20);
}

/**
 * Asks with a fresh copy of the settings, as the bridge does after each re-read of the policy, so
 * the memo is found by the settings' values.
 */
function assertSameAsUncached(quiet: QuietHours, zone: string, now: number): void {
  const copy: QuietHours = structuredClone(quiet);
  assert.equal(
    quietUntil(copy, zone, now),
    quietUntilUncached(quiet, zone, now),
    `${JSON.stringify(quiet)} ${zone} ${new Date(now).toISOString()}`,
  );
}

describe('quiet hours, memoised per zone and settings', () => {
  test('equal the uncached computation every 53 minutes through the months of 2026’s DST changes', () => {
    // Each zone takes the settings in turn, so one zone's memo sees all of them interleaved.
    const months = [
      ...instants('2026-03-01T00:00:00Z', '2026-04-15T00:00:00Z', 53),
      ...instants('2026-09-01T00:00:00Z', '2026-11-08T00:00:00Z', 53),
    ];
    months.forEach((now, i) => {
      CLOCK_ZONES.forEach((zone, z) => assertSameAsUncached(SETTINGS[(i + z) % SETTINGS.length]!, zone, now));
    });
  });

  test('equal it in any order over the year', () => {
    const random = seededRandom(11);
    const start = at('2026-01-01T00:00:00Z');
    for (let i = 0; i < 1200; i++) {
      const now = start + Math.floor(random() * 365 * 1440) * 60_000;
      for (const zone of CLOCK_ZONES) assertSameAsUncached(SETTINGS[i % SETTINGS.length]!, zone, now);
    }
  });

  test('equal it at every minute around each window edge and midnight', () => {
    // Whole minutes within 20 of a window's edge or midnight on the local clock, over five days
    // around London's and Lord Howe's spring changes and Santiago's autumn one.
    const weeks: Array<[string, string]> = [
      ['Europe/London', '2026-03-27T00:00:00Z'],
      ['Australia/Lord_Howe', '2026-10-01T00:00:00Z'],
      ['America/Santiago', '2026-04-02T00:00:00Z'],
    ];
    for (const [zone, from] of weeks) {
      for (const quiet of SETTINGS) {
        for (const now of instants(from, new Date(at(from) + 5 * 86_400_000).toISOString(), 1)) {
          if (isNearEdge(quiet, zone, now)) assertSameAsUncached(quiet, zone, now);
        }
      }
    }
  });

  test('where the clocks went back across midnight', () => {
    // Goose Bay went back from 00:01 ADT to 23:01 AST on Saturday (2008-11-02 04:01Z).
    for (const now of instants('2008-11-01T20:00:00Z', '2008-11-02T12:00:00Z', 1)) {
      for (const quiet of SETTINGS) assertSameAsUncached(quiet, 'America/Goose_Bay', now);
    }
  });

  test('new settings for the same zone are not answered from the old ones', () => {
    const now = at('2026-06-10T21:30:00Z');
    assert.equal(quietUntil(NIGHTS, 'Europe/London', now), at('2026-06-11T07:00:00Z'));
    assert.equal(
      quietUntil({ start: '21:00', end: '09:00' }, 'Europe/London', now),
      at('2026-06-11T08:00:00Z'),
    );
    assert.equal(quietUntil({ ...NIGHTS, byWeekday: { wednesday: null } }, 'Europe/London', now), undefined);
    assert.equal(quietUntil(NIGHTS, 'Europe/London', now), at('2026-06-11T07:00:00Z'));
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
