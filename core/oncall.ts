import { parseE164 } from './phone.ts';

/**
 * On-call rosters: who is paged for an alert at a given instant. Pure — the clock is an argument —
 * so every rule below is tested without a server (core/oncall.test.ts).
 *
 * A rotation hands over at a local wall-clock time in the roster's time zone (`09:00` stays 09:00
 * across daylight-saving changes). When that time does not exist on a day (the clocks jump over
 * it), the handoff happens when the clocks land; when it exists twice (the clocks go back), the
 * first occurrence counts, so the member on call never flips back and forth within the repeated hour.
 */

export const ROTATION_PERIODS = ['daily', 'weekly'] as const;
export type RotationPeriod = (typeof ROTATION_PERIODS)[number];

export const WEEKDAYS = [
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
  'sunday',
] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const ROSTER_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
export const HANDOFF_TIME_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';
export const DATE_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$';
export const MAX_MEMBERS = 50;
export const MAX_OVERRIDES = 200;
/** The roster an alert goes to when nothing names one. */
export const DEFAULT_ROSTER = 'default';

export interface RosterMember {
  /** Unique in the roster; what overrides and acknowledgements name. */
  name: string;
  /** E.164. */
  phone: string;
}

export interface Rotation {
  period: RotationPeriod;
  /** Local time of the handoff, `HH:MM` (24 h) in the roster's time zone. */
  handoffTime: string;
  /** Weekly rotations: the day of the handoff (default: the weekday of `start`). */
  handoffDay?: Weekday;
  /** Local date (`YYYY-MM-DD`) whose shift the first member takes; the order repeats before and after. */
  start: string;
}

export interface RosterOverride {
  id: string;
  /** Name of a member of the roster. */
  member: string;
  /** ISO instants; the override covers [from, to). */
  from: string;
  to: string;
}

export interface RosterEscalation {
  /** An unacknowledged page goes to the next member after this long. */
  afterMinutes: number;
  /** How many members after the first may be paged (default: every other member, once). */
  maxLevels?: number;
}

export interface Roster {
  name: string;
  /** IANA time zone of the handoff time, e.g. `Europe/London`. */
  timezone: string;
  /** In rotation order. */
  members: RosterMember[];
  rotation: Rotation;
  overrides: RosterOverride[];
  escalation?: RosterEscalation;
}

export interface OnCall {
  member: RosterMember;
  source: 'rotation' | 'override';
  /** When this stint ends (ms): the next handoff, or the override's end or the next override's start. */
  until: number;
}

/** A page's life: `open` until someone acknowledges it or the alert resolves. */
export const PAGE_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type PageStatus = (typeof PAGE_STATUSES)[number];

/** How a page reached the phone: through Kafka and the bridge, or straight to a provider. */
export type PageRoute = 'bus' | 'direct';

export interface PageDelivery {
  member: string;
  /** Escalation level: 0 for the first member, then one more per escalation; -1 for the resolved notice. */
  level: number;
  kind: 'page' | 'escalation' | 'resolved';
  messageId: string;
  via: PageRoute;
  /** The provider, for direct sends. */
  provider?: string;
  at: number;
}

/** One firing alert paged to a roster, as stored (`oncall_pages`). Times are ms since the epoch. */
export interface PageRecord {
  id: string;
  tenantId: string;
  roster: string;
  /** Alertmanager's fingerprint, or the generic alert's (given or derived from its title). */
  fingerprint: string;
  status: PageStatus;
  severity: string;
  title: string;
  /** Escalation level reached: chain[level] was paged last. */
  level: number;
  /** Who is paged in turn, fixed when the page opens so a handoff mid-incident does not reshuffle it. */
  chain: RosterMember[];
  deliveries: PageDelivery[];
  createdAt: number;
  /** When the next level is due while the page is open; null when no level is left. */
  escalateAt: number | null;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  resolvedAt: number | null;
  updatedAt: number;
}

/** A roster as stored (`oncall_rosters`): the definition is JSON, keyed by tenant and name. */
export interface RosterRecord {
  tenantId: string;
  name: string;
  roster: Roster;
  updatedAt: number;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

// Formatters are costly to build and cheap to reuse; one per time zone.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timezone, f);
  }
  return f;
}

export function isTimeZone(timezone: string): boolean {
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

/** A local date and time of day in some zone. */
export interface Local {
  /** Days since 1970-01-01 of the local date. */
  day: number;
  /** Minutes since local midnight. */
  minute: number;
}

/** The local date and time of day in `timezone` at the instant `at`. */
export function localOf(at: number, timezone: string): Local {
  const parts: Record<string, number> = {};
  for (const part of formatter(timezone).formatToParts(at)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return {
    day: Math.floor(Date.UTC(parts.year!, parts.month! - 1, parts.day) / DAY_MS),
    minute: parts.hour! * 60 + parts.minute!,
  };
}

const localKey = (local: Local) => local.day * 1440 + local.minute;

/** Days since 1970-01-01 of a `YYYY-MM-DD` date; NaN when it is not a real date. */
export function dayNumber(date: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) return Number.NaN;
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(y, m - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d)
    return Number.NaN;
  return ms / DAY_MS;
}

/** 0 = Monday … 6 = Sunday; 1970-01-01 was a Thursday. */
export const weekdayOf = (day: number) => (((day + 3) % 7) + 7) % 7;

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * The first instant at which the local clock in `timezone` shows `day` at `minute` or later.
 * Each of the two offsets in force around that time gives a candidate; a candidate is exact when
 * the clock really shows that time then, and the earlier exact one wins (clocks going back show it
 * twice). With none exact the time falls in a gap, and the clocks land past it between the two
 * candidates, found minute by minute (gaps are at most an hour, on whole minutes).
 */
export function localToInstant(day: number, minute: number, timezone: string): number {
  const wall = day * DAY_MS + minute * MINUTE_MS;
  const target = day * 1440 + minute;
  const offsetAt = (at: number) => {
    const floored = at - (((at % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
    return localKey(localOf(floored, timezone)) * MINUTE_MS - floored;
  };
  // Offsets reach ±14 h, so the zone's offsets before and after a change near this wall time are
  // sampled a day either side: ±6 h read both on the same side of a change for Sydney's midnight.
  const candidates = [
    ...new Set([wall - offsetAt(wall - DAY_MS), wall - offsetAt(wall), wall - offsetAt(wall + DAY_MS)]),
  ];
  const exact = candidates.filter((c) => localKey(localOf(c, timezone)) === target);
  if (exact.length > 0) return Math.min(...exact);
  let at = Math.min(...candidates);
  const limit = Math.max(...candidates) + 3 * 3_600_000;
  while (localKey(localOf(at, timezone)) < target && at < limit) at += MINUTE_MS;
  return at;
}

interface Shift {
  /** Shift number relative to the one starting on `rotation.start` (0). */
  index: number;
  /** When the next shift starts (ms). */
  until: number;
}

function shiftAt(roster: Roster, at: number): Shift {
  const { rotation, timezone } = roster;
  const handoff = minutesOf(rotation.handoffTime);
  const startDay = dayNumber(rotation.start);
  const period = rotation.period === 'weekly' ? 7 : 1;
  const handoffWeekday =
    rotation.handoffDay === undefined ? weekdayOf(startDay) : WEEKDAYS.indexOf(rotation.handoffDay);
  // The day whose handoff most recently passed by the wall clock, aligned to the handoff weekday.
  const alignDown = (day: number) => (period === 1 ? day : day - ((weekdayOf(day) - handoffWeekday + 7) % 7));
  const local = localOf(at, timezone);
  let shiftDay = alignDown(local.minute >= handoff ? local.day : local.day - 1);
  // In the hour the clocks repeat, the wall clock can read "before the handoff" after it happened.
  let next = localToInstant(shiftDay + period, handoff, timezone);
  if (next <= at) {
    shiftDay += period;
    next = localToInstant(shiftDay + period, handoff, timezone);
  }
  return { index: Math.round((shiftDay - alignDown(startDay)) / period), until: next };
}

const mod = (k: number, n: number) => ((k % n) + n) % n;

function activeOverride(roster: Roster, at: number): { override: RosterOverride; until: number } | undefined {
  let active: RosterOverride | undefined;
  for (const o of roster.overrides) {
    const from = Date.parse(o.from);
    if (from <= at && at < Date.parse(o.to) && (!active || from >= Date.parse(active.from))) active = o;
  }
  if (!active) return undefined;
  // The most recently started override wins, so one that starts later cuts this one short.
  let until = Date.parse(active.to);
  for (const o of roster.overrides) {
    const from = Date.parse(o.from);
    if (from > at && from < until && Date.parse(o.to) > from) until = from;
  }
  return { override: active, until };
}

/** The rotation's member at `at`, ignoring overrides, with its position in `members`. */
export function rotationAt(roster: Roster, at: number): { index: number; until: number } {
  const shift = shiftAt(roster, at);
  return { index: mod(shift.index, roster.members.length), until: shift.until };
}

/** Who is on call at `at`: an override in force, else the rotation. */
export function onCallAt(roster: Roster, at: number): OnCall {
  const rotation = rotationAt(roster, at);
  const override = activeOverride(roster, at);
  if (override) {
    const member = roster.members.find((m) => m.name === override.override.member);
    if (member) return { member, source: 'override', until: override.until };
  }
  return { member: roster.members[rotation.index]!, source: 'rotation', until: rotation.until };
}

/**
 * Who is paged in turn for an alert at `at`: the member on call, then (when that is an override)
 * the rotation's member, then the following members in rotation order; each once.
 */
export function escalationChain(roster: Roster, at: number): RosterMember[] {
  const first = onCallAt(roster, at).member;
  const start = rotationAt(roster, at).index;
  const chain = [first];
  for (let i = 0; i < roster.members.length; i++) {
    const member = roster.members[(start + i) % roster.members.length]!;
    if (!chain.some((m) => m.name === member.name)) chain.push(member);
  }
  const levels = roster.escalation ? (roster.escalation.maxLevels ?? chain.length - 1) : 0;
  return chain.slice(0, Math.min(chain.length, levels + 1));
}

/** When level `level` + 1 is due for a page opened or escalated at `at`; null when none is left. */
export function nextEscalationAt(
  roster: Pick<Roster, 'escalation'>,
  chainLength: number,
  level: number,
  at: number,
): number | null {
  if (!roster.escalation || level + 1 >= chainLength) return null;
  return at + roster.escalation.afterMinutes * MINUTE_MS;
}

/**
 * Checks what a schema cannot: unique names, real numbers, dates and zones, overrides naming
 * members. Returns one entry per problem, with a JSON Pointer into the roster.
 */
export function checkRoster(roster: Roster): Array<{ field: string; message: string }> {
  const errors: Array<{ field: string; message: string }> = [];
  const problem = (field: string, message: string) => errors.push({ field, message });
  if (!new RegExp(ROSTER_NAME_PATTERN).test(roster.name))
    problem('/name', 'lower-case letters, digits, - and _');
  if (!isTimeZone(roster.timezone)) problem('/timezone', `unknown time zone "${roster.timezone}"`);
  if (roster.members.length === 0) problem('/members', 'at least one member');
  if (roster.members.length > MAX_MEMBERS) problem('/members', `at most ${MAX_MEMBERS} members`);
  const names = new Set<string>();
  roster.members.forEach((m, i) => {
    if (names.has(m.name)) problem(`/members/${i}/name`, `"${m.name}" appears twice`);
    names.add(m.name);
    const parsed = parseE164(m.phone);
    if (!parsed) problem(`/members/${i}/phone`, 'not a valid E.164 number');
    else if (parsed.e164 !== m.phone) problem(`/members/${i}/phone`, `write it as ${parsed.e164}`);
  });
  const { rotation } = roster;
  if (!new RegExp(HANDOFF_TIME_PATTERN).test(rotation.handoffTime)) {
    problem('/rotation/handoffTime', 'HH:MM, 24-hour');
  }
  if (Number.isNaN(dayNumber(rotation.start))) problem('/rotation/start', 'a real date, YYYY-MM-DD');
  if (rotation.period === 'daily' && rotation.handoffDay !== undefined) {
    problem('/rotation/handoffDay', 'only for weekly rotations');
  }
  if (roster.overrides.length > MAX_OVERRIDES) problem('/overrides', `at most ${MAX_OVERRIDES}`);
  const ids = new Set<string>();
  roster.overrides.forEach((o, i) => {
    if (ids.has(o.id)) problem(`/overrides/${i}/id`, `"${o.id}" appears twice`);
    ids.add(o.id);
    if (!names.has(o.member)) problem(`/overrides/${i}/member`, `no member named "${o.member}"`);
    const from = Date.parse(o.from);
    const to = Date.parse(o.to);
    if (Number.isNaN(from)) problem(`/overrides/${i}/from`, 'not a date-time');
    if (Number.isNaN(to)) problem(`/overrides/${i}/to`, 'not a date-time');
    if (!(from < to)) problem(`/overrides/${i}/to`, 'must be after from');
  });
  const escalation = roster.escalation;
  if (escalation) {
    if (
      !Number.isInteger(escalation.afterMinutes) ||
      escalation.afterMinutes < 1 ||
      escalation.afterMinutes > 1440
    ) {
      problem('/escalation/afterMinutes', 'a whole number of minutes from 1 to 1440');
    }
    const maxLevels = escalation.maxLevels;
    if (
      maxLevels !== undefined &&
      (!Number.isInteger(maxLevels) || maxLevels < 0 || maxLevels >= Math.max(1, roster.members.length))
    ) {
      problem(
        '/escalation/maxLevels',
        `from 0 to ${Math.max(0, roster.members.length - 1)} (members after the first)`,
      );
    }
  }
  return errors;
}
