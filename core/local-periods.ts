import { BoundedMemo } from './bounded-memo.ts';
import { localOf, localToInstant, weekdayOf } from './oncall.ts';

/**
 * A recipient's local calendar day and ISO week (Monday to Sunday) at an instant, each with the
 * instant it ends: the periods of the marketing frequency caps, so "two a day" means two between
 * the recipient's midnights, whatever the offset or a DST change in between.
 */
export interface LocalPeriods {
  /** `2026-03-29`. */
  day: string;
  dayEndsAt: number;
  /** The week's Monday, `2026-03-23`. */
  week: string;
  weekEndsAt: number;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const isoDate = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** The periods of the local day `today` (days since 1970-01-01) in `zone`. */
function periodsOf(today: number, zone: string): LocalPeriods {
  const monday = today - weekdayOf(today);
  return {
    day: isoDate(today),
    dayEndsAt: localToInstant(today + 1, 0, zone),
    week: isoDate(monday),
    weekEndsAt: localToInstant(monday + 7, 0, zone),
  };
}

/** localPeriods read off the zone's clock every time; localPeriods gives the same from a memo. */
export function localPeriodsUncached(zone: string, now: number): LocalPeriods {
  return periodsOf(localOf(now, zone).day, zone);
}

/** A zone's local day as the stretch of instants [startsAt, endsAt) whose local date it is. */
export interface LocalDay {
  /** Days since 1970-01-01 of the local date. */
  day: number;
  /** Its first midnight, or where the clocks land when they skip it. */
  startsAt: number;
  /** The next day's first midnight. */
  endsAt: number;
  periods: LocalPeriods;
}

/** UTC offset (ms) of the zone's clock at a whole minute. */
const offsetAt = (at: number, zone: string) => {
  const local = localOf(at, zone);
  return (local.day * 1440 + local.minute) * MINUTE_MS - at;
};

/**
 * The local day around `now`, or undefined when it is not one stretch of instants. From its first
 * midnight to the next, the local date stays put while the clocks only go forward, and when they go
 * back (at most once a day, as localToInstant assumes) unless they go back across midnight, as
 * Newfoundland, Labrador and New Brunswick did at 00:01 until 2010. Then the day before shows from
 * the change until the clock reaches midnight a second time, `back` after the first: the minute
 * before that second midnight tells. Such a day, and an instant in its repeated hour, is not kept.
 */
function localDayAround(zone: string, now: number): LocalDay | undefined {
  const day = localOf(now, zone).day;
  const startsAt = localToInstant(day, 0, zone);
  const periods = periodsOf(day, zone);
  const endsAt = periods.dayEndsAt;
  if (!(startsAt <= now && now < endsAt)) return undefined;
  const back = offsetAt(startsAt, zone) - offsetAt(endsAt, zone);
  if (back > 0 && localOf(startsAt + back - MINUTE_MS, zone).day !== day) return undefined;
  return { day, startsAt, endsAt, periods };
}

// Every recipient in a zone shares its local day, whose periods change only at its end: each zone
// keeps the day it is in. Every zone the platform knows (about 420) fits.
const LOCAL_DAYS = 1024;
const localDays = new BoundedMemo((): { known?: LocalDay } => ({}), LOCAL_DAYS);

/**
 * The local day in `zone` around `now`, kept per zone until the instant leaves it; undefined when
 * the zone's clocks go back across midnight around `now` and the day is no one stretch. Shared by
 * every caller: read it, do not change it.
 */
export function localDay(zone: string, now: number): LocalDay | undefined {
  const slot = localDays.get(zone);
  const known = slot.known;
  if (known !== undefined && known.startsAt <= now && now < known.endsAt) return known;
  const found = localDayAround(zone, now);
  if (found !== undefined) slot.known = found;
  return found;
}

export function localPeriods(zone: string, now: number): LocalPeriods {
  const known = localDay(zone, now);
  // A copy each time, as before: callers may keep or change what they are given.
  return known === undefined ? localPeriodsUncached(zone, now) : { ...known.periods };
}
