import { dayNumber, localOf, localToInstant } from '../../../core/oncall.ts';
import type { Recurrence } from '../../../core/store/kinds/campaigns.ts';

const DAY_MS = 86_400_000;
const WALL = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})/;

/**
 * The instant a wall time (`YYYY-MM-DDTHH:mm`) names in an IANA zone: 09:00 in Asia/Shanghai is
 * 01:00Z. A time a DST change skips starts at the first minute after the gap; one it repeats, at
 * its first occurrence.
 */
export function instantOf(local: string, timeZone: string): number {
  const match = WALL.exec(local);
  const day = match ? dayNumber(match[1]!) : Number.NaN;
  if (!match || Number.isNaN(day)) throw new RangeError(`not a local date-time: ${local}`);
  return localToInstant(day, Number(match[2]) * 60 + Number(match[3]), timeZone);
}

/**
 * When the run after one that was due at `previous` is due: the same wall time in `timeZone` the
 * next day, week or month, so a run follows its zone's DST changes. A monthly run keeps the day of
 * the month of `anchor` (the first run): on a day the next month lacks, it runs on that month's
 * last day, and goes back to its own day the month after (31 Jan, 28 Feb, 31 Mar).
 */
export function nextRunAt(
  previous: number,
  timeZone: string,
  recurrence: Recurrence,
  anchor: number = previous,
): number {
  const { day, minute } = localOf(previous, timeZone);
  if (recurrence !== 'monthly') {
    return localToInstant(day + (recurrence === 'daily' ? 1 : 7), minute, timeZone);
  }
  const date = new Date(day * DAY_MS);
  const [y, m] = [date.getUTCFullYear(), date.getUTCMonth()];
  const wanted = new Date(localOf(anchor, timeZone).day * DAY_MS).getUTCDate();
  const lastDay = new Date(Date.UTC(y, m + 2, 0)).getUTCDate();
  return localToInstant(Date.UTC(y, m + 1, Math.min(wanted, lastDay)) / DAY_MS, minute, timeZone);
}
