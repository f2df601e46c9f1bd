import { localOf, localToInstant, type Weekday, WEEKDAYS, weekdayOf } from './oncall.ts';
import type { LocalWindow, QuietHours } from './store/kinds/messaging-policy.ts';

/**
 * Quiet hours, pure: whether an instant falls in a tenant's quiet window in a recipient's zone,
 * and when that window ends. Local times go through core/oncall.ts's DST-careful arithmetic: a
 * window edge in the hour clocks skip is the first instant after the gap, and in the hour they
 * repeat, its first occurrence.
 */

export const LOCAL_TIME_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The window that starts on a local day: its weekday's own, else the every-day one. */
function windowStartingOn(quiet: QuietHours, day: number): LocalWindow | null {
  const weekday: Weekday = WEEKDAYS[weekdayOf(day)]!;
  const own = quiet.byWeekday?.[weekday];
  return own === undefined ? { start: quiet.start, end: quiet.end } : own;
}

/** The instants a window starting on `day` covers, [from, until); undefined for an empty one. */
function span(window: LocalWindow, day: number, zone: string): { from: number; until: number } | undefined {
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  if (start === end) return undefined;
  // An end at or before the start is the next morning's: 21:00–08:00 runs past midnight.
  const endDay = end < start ? day + 1 : day;
  return { from: localToInstant(day, start, zone), until: localToInstant(endDay, end, zone) };
}

/**
 * When the quiet window around `now` ends for a recipient in `zone`, or undefined when `now` is
 * outside every window. A window that ends where the next begins (per-weekday windows may chain)
 * is followed to its last end.
 */
export function quietUntil(quiet: QuietHours, zone: string, now: number): number | undefined {
  let until: number | undefined;
  let at = now;
  // Seven days of back-to-back windows is the most a week of settings can chain.
  for (let hop = 0; hop < 8; hop++) {
    const today = localOf(at, zone).day;
    let next: number | undefined;
    // A window running past midnight may have started the local day before.
    for (const day of [today - 1, today]) {
      const window = windowStartingOn(quiet, day);
      const covered = window && span(window, day, zone);
      if (covered && covered.from <= at && at < covered.until) next = Math.max(next ?? 0, covered.until);
    }
    if (next === undefined) return until;
    until = next;
    at = next;
  }
  return until;
}
