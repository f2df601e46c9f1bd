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
const isoDate = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

export function localPeriods(zone: string, now: number): LocalPeriods {
  const today = localOf(now, zone).day;
  const monday = today - weekdayOf(today);
  return {
    day: isoDate(today),
    dayEndsAt: localToInstant(today + 1, 0, zone),
    week: isoDate(monday),
    weekEndsAt: localToInstant(monday + 7, 0, zone),
  };
}
