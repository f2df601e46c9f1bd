import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { seededRandom } from '../test/support/seeded-random.ts';
import { CLOCK_ZONES, instants } from '../test/support/time-zones.ts';
import { localDay, localPeriods, localPeriodsUncached } from './local-periods.ts';

const at = (iso: string) => Date.parse(iso);
const MINUTE_MS = 60_000;

function assertSameAsUncached(zone: string, now: number): void {
  assert.deepEqual(
    localPeriods(zone, now),
    localPeriodsUncached(zone, now),
    `${zone} ${new Date(now).toISOString()}`,
  );
}

describe('local periods, memoised per zone', () => {
  test('equal the uncached computation every 53 minutes through 2026', () => {
    for (const now of instants('2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', 53)) {
      for (const zone of CLOCK_ZONES) assertSameAsUncached(zone, now);
    }
  });

  test('equal it in any order: an instant before or after the kept day finds its own', () => {
    const random = seededRandom(7);
    const start = at('2026-01-01T00:00:00Z');
    for (let i = 0; i < 3000; i++) {
      const now = start + Math.floor(random() * 365 * 1440) * MINUTE_MS;
      for (const zone of CLOCK_ZONES) assertSameAsUncached(zone, now);
    }
  });

  test('equal it where the clocks went back across midnight or skipped a day', () => {
    // St John's and Goose Bay went back at 00:01 to 23:01 the day before (Goose Bay 2008-11-02 04:01Z,
    // St John's 03:31Z); Casey from 02:00 to 23:00 (2010-03-04 15:00Z); Apia skipped 2011-12-30.
    const cases: Array<[string, string, string]> = [
      ['America/Goose_Bay', '2008-11-01T12:00:00Z', '2008-11-03T12:00:00Z'],
      ['America/St_Johns', '2008-11-01T12:00:00Z', '2008-11-03T12:00:00Z'],
      ['Antarctica/Casey', '2010-03-03T12:00:00Z', '2010-03-05T12:00:00Z'],
      ['Pacific/Apia', '2011-12-29T00:00:00Z', '2011-12-31T12:00:00Z'],
    ];
    for (const [zone, from, to] of cases) {
      for (const now of instants(from, to, 7)) assertSameAsUncached(zone, now);
    }
  });

  test('a day the clocks go back into the day before is not taken as one stretch', () => {
    // Goose Bay, Sunday 2 November 2008: 00:00 ADT, a minute later 23:01 AST on Saturday again.
    assert.equal(localDay('America/Goose_Bay', at('2008-11-02T03:30:00Z')), undefined);
    assert.equal(localDay('America/Goose_Bay', at('2008-11-02T04:30:00Z')), undefined);
    // The Monday after is an ordinary day, from 00:00 AST.
    const monday = localDay('America/Goose_Bay', at('2008-11-03T12:00:00Z'));
    assert.equal(monday?.startsAt, at('2008-11-03T04:00:00Z'));
    assert.equal(monday?.endsAt, at('2008-11-04T04:00:00Z'));
  });

  test('each call gets its own copy', () => {
    const first = localPeriods('Europe/London', at('2026-06-10T12:00:00Z'));
    first.day = 'changed';
    assert.equal(localPeriods('Europe/London', at('2026-06-10T12:00:00Z')).day, '2026-06-10');
  });
});
