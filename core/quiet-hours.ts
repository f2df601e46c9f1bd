import { BoundedMemo } from './bounded-memo.ts';
import { localDay } from './local-periods.ts';
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
 * is followed to its last end. Computed from the zone's clock every time; quietUntil below gives
 * the same answers from a memo.
 */
export function quietUntilUncached(quiet: QuietHours, zone: string, now: number): number | undefined {
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

/** quietUntil's answer over [from, until): one stretch of a local day between window edges. */
interface QuietStretch {
  from: number;
  until: number;
  quietUntil: number | undefined;
}

/**
 * The stretch around `now` over which quietUntilUncached gives one answer, or undefined when the
 * zone's local day around `now` is no one stretch of instants (local-periods.ts). That answer
 * depends on `now` only through its local day (which windows are looked at, and their spans) and
 * through which of those spans hold `now`; the hops after the first start from a span's end, not
 * from `now`. So it holds from the latest of the day's start and the edges at or before `now`, to
 * the earliest of the day's end and the edges after it.
 */
function stretchAround(quiet: QuietHours, zone: string, now: number): QuietStretch | undefined {
  const local = localDay(zone, now);
  if (local === undefined) return undefined;
  let { startsAt: from, endsAt: until } = local;
  for (const day of [local.day - 1, local.day]) {
    const window = windowStartingOn(quiet, day);
    const covered = window && span(window, day, zone);
    if (!covered) continue;
    for (const edge of [covered.from, covered.until]) {
      if (edge <= now) from = Math.max(from, edge);
      else until = Math.min(until, edge);
    }
  }
  return { from, until, quietUntil: quietUntilUncached(quiet, zone, now) };
}

/** A window's edges as the minutes span() reads, so equal settings share a key whatever their text. */
const windowKey = (window: LocalWindow) => `${minutesOf(window.start)}-${minutesOf(window.end)}`;

/**
 * What quietUntil's answer depends on besides the instant: the zone and the settings as values,
 * since the policy is re-read every few seconds as a new object with the same settings.
 */
function stretchKey(quiet: QuietHours, zone: string): string {
  let key = windowKey(quiet);
  const byWeekday = quiet.byWeekday;
  if (byWeekday) {
    for (const weekday of WEEKDAYS) {
      const own = byWeekday[weekday];
      key += own === undefined ? ' *' : own === null ? ' none' : ` ${windowKey(own)}`;
    }
  }
  // The settings' part has no '|', so the first one ends it.
  return `${key}|${zone}`;
}

// Every pass over a marketing message asks, and the answer only changes at a window's edge or a
// local midnight, so each zone and settings keeps the stretch it is in. A few hundred zones times
// the tenants' distinct settings; an entry is a few numbers.
const QUIET_STRETCHES = 4096;
const quietStretches = new BoundedMemo((): { stretch?: QuietStretch } => ({}), QUIET_STRETCHES);

/**
 * When the quiet window around `now` ends for a recipient in `zone`, or undefined when `now` is
 * outside every window; quietUntilUncached's answer, kept until the next window edge or local
 * midnight in `zone`, when it can next change.
 */
export function quietUntil(quiet: QuietHours, zone: string, now: number): number | undefined {
  const slot = quietStretches.get(stretchKey(quiet, zone));
  let stretch = slot.stretch;
  if (stretch === undefined || now < stretch.from || now >= stretch.until) {
    stretch = stretchAround(quiet, zone, now);
    if (stretch === undefined) return quietUntilUncached(quiet, zone, now);
    slot.stretch = stretch;
  }
  return stretch.quietUntil;
}
