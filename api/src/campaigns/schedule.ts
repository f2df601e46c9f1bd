import { dayNumber, localToInstant } from '../../../core/oncall.ts';

export type Recurrence = 'daily' | 'weekly' | 'monthly';

/** A send time as the tenant gave it: a wall-clock time in an IANA zone. */
export interface WallTime {
  /** `YYYY-MM-DDTHH:mm` (seconds, if any, are ignored: runs start on the minute). */
  local: string;
  timeZone: string;
}

const WALL = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})/;

/**
 * The instant a wall time names in its zone (09:00 in Asia/Shanghai is 01:00Z). A time that a DST
 * change skips starts at the first minute after the gap; one it repeats, at the first occurrence.
 */
export function instantOf(wall: WallTime): number {
  const match = WALL.exec(wall.local);
  const day = match ? dayNumber(match[1]!) : Number.NaN;
  if (!match || Number.isNaN(day)) throw new RangeError(`not a local date-time: ${wall.local}`);
  return localToInstant(day, Number(match[2]) * 60 + Number(match[3]), wall.timeZone);
}

/**
 * The wall time of the run after one at `wall`: the same local time the next day, week or month
 * (the 31st becomes the last day of a shorter month, counted from the first run's day so January
 * 31st runs on February 28th and then March 31st). A run's instant follows its zone's DST.
 */
export function nextWallTime(first: WallTime, run: number, recurrence: Recurrence): WallTime {
  const match = WALL.exec(first.local);
  if (!match) throw new RangeError(`not a local date-time: ${first.local}`);
  const [y, m, d] = match[1]!.split('-').map(Number) as [number, number, number];
  const time = `${match[2]}:${match[3]}`;
  const steps = run; // run 1 is the first; run n+1 is n steps after it
  let date: Date;
  if (recurrence === 'monthly') {
    const lastDay = new Date(Date.UTC(y, m - 1 + steps + 1, 0)).getUTCDate();
    date = new Date(Date.UTC(y, m - 1 + steps, Math.min(d, lastDay)));
  } else {
    date = new Date(Date.UTC(y, m - 1, d + steps * (recurrence === 'daily' ? 1 : 7)));
  }
  return { local: `${date.toISOString().slice(0, 10)}T${time}`, timeZone: first.timeZone };
}
