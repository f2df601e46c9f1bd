import { PigeonError } from '../../../core/errors.ts';

/** A wall-clock time without an offset: `2026-12-07T09:00` (seconds optional). */
const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;
/** An instant: the same with `Z` or an offset. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;

function invalid(field: string, message: string): PigeonError {
  return new PigeonError('PIGEON_ERR_VALIDATION', `"${field}" ${message}`, {
    errors: [{ field: `/${field}`, message }],
  });
}

/** Whether the runtime knows `zone` as an IANA time zone. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC at `instant`, in ms. */
function offsetAt(zone: string, instant: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(instant);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const local = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return local - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant a campaign's `sendAt` names: an ISO instant (with Z or an offset) as it is, or a local
 * wall time (`2026-12-07T09:00`) in `timeZone`. A wall time a DST change skips or repeats has two
 * readings (the offsets before and after the change); the earlier instant is taken.
 */
export function sendInstant(sendAt: string, timeZone: string | undefined): number {
  if (timeZone !== undefined && !isTimeZone(timeZone)) {
    throw invalid('timeZone', 'is not an IANA time zone (such as Asia/Shanghai)');
  }
  if (INSTANT.test(sendAt)) {
    const instant = Date.parse(sendAt);
    if (Number.isNaN(instant)) throw invalid('sendAt', 'is not a valid date and time');
    return instant;
  }
  const match = LOCAL_TIME.exec(sendAt);
  if (!match) throw invalid('sendAt', 'must be a local time such as 2026-12-07T09:00, or an ISO instant');
  if (timeZone === undefined) throw invalid('timeZone', 'is required with a local sendAt');
  const [y, mo, d, h, mi, s] = match.slice(1).map((part) => Number(part ?? 0));
  const wall = Date.UTC(y!, mo! - 1, d, h, mi, s);
  const check = new Date(wall);
  if (check.getUTCMonth() !== mo! - 1 || check.getUTCDate() !== d || h! > 23 || mi! > 59 || s! > 59) {
    throw invalid('sendAt', 'is not a valid date and time');
  }
  // Two rounds settle it: the offset at the first guess, then at the instant that gives.
  const first = wall - offsetAt(timeZone, wall);
  const second = wall - offsetAt(timeZone, first);
  return Math.min(first, second);
}
