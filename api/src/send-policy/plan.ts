import type { RateLimit } from '../../../core/config.ts';
import { hashTag } from '../../../core/cache/slots.ts';
import { PigeonError } from '../../../core/errors.ts';
import type { MessageClass } from '../../../core/message.ts';
import { numberRange } from './destination.ts';
import type { SendLimits } from './limits.ts';
import { MICROS } from './pricing.ts';
import type { LocalPeriods } from '../../../core/local-periods.ts';
import { type AdmitReply, DUPLICATE } from './scripts.ts';

/**
 * What one send must pass in the cache, as data: the tenant's token bucket and the counters it
 * adds to, with what each refusal says. Pure, so the engine (engine.ts) only runs the script.
 */

/**
 * Cache keys of the send policy. The range key is the verifications' own: both count one burst.
 * One send's counters are checked in one script, so every key of a tenant carries the tenant as
 * its hash tag (core/cache/slots.ts) and lands in one Redis Cluster slot. That costs no spread a
 * tenant had: every send of a tenant already goes through its one token bucket key.
 */
export const SendKeys = {
  bucket: (tenantId: string) => `send:bucket:${hashTag(tenantId)}`,
  recipient: (period: 'hour' | 'day', tenantId: string, e164: string) =>
    `send:to:${period}:${hashTag(tenantId)}:${e164}`,
  spend: (tenantId: string, period: string) => `send:spend:${hashTag(tenantId)}:${period}`,
  range: (tenantId: string, range: string) => `otp:rl:burst:${hashTag(tenantId)}:${range}`,
  /** A marketing cap's local day (`2026-03-29`) or week (its Monday): the key ends with its period. */
  marketing: (period: 'day' | 'week', tenantId: string, e164: string, start: string) =>
    `send:mkt:${period}:${hashTag(tenantId)}:${e164}:${start}`,
  /** The fingerprint is a keyed hash (dedup.ts): neither body nor number is kept in clear. */
  dedup: (tenantId: string, fingerprint: string) => `send:dedup:${hashTag(tenantId)}:${fingerprint}`,
} as const;

export type WindowCode =
  | 'PIGEON_ERR_RECIPIENT_CAP'
  | 'PIGEON_ERR_PUMPING_SUSPECTED'
  | 'PIGEON_ERR_SPEND_CAP'
  | 'PIGEON_ERR_FREQUENCY_CAPPED';

export interface AdmitWindow {
  key: string;
  by: number;
  limit: number;
  windowMs: number;
  /** How long the key stays refused after its first refusal; 0: until the window ends. */
  penaltyMs: number;
  code: WindowCode;
  /** The refusal's detail, before "; retry in N s". */
  refusal: string;
}

/** The claim that makes a send the one of its duplicates that goes out. */
export interface DedupClaim {
  key: string;
  /** The message id a duplicate is answered with. */
  messageId: string;
  windowMs: number;
}

export interface AdmissionPlan {
  bucket: { key: string; ratePerSecond: number; burst: number };
  windows: AdmitWindow[];
  dedup?: DedupClaim;
}

/** A tenant's marketing caps per recipient, in the recipient's local day and week; 0: none. */
export interface MarketingCaps {
  perDay: number;
  perWeek: number;
  /** The recipient's local periods at the time of the send (core/local-periods.ts). */
  periods: LocalPeriods;
}

export interface SendToAdmit {
  tenantId: string;
  e164: string;
  messageClass: MessageClass;
  costMicros: number;
  /** Marketing messages only: the tenant's frequency caps. */
  marketingCaps?: MarketingCaps;
  dedup?: DedupClaim;
}

export interface PumpingDefence {
  prefixBurst: RateLimit;
  prefixBlockMs: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

interface UtcDay {
  start: number;
  end: number;
  day: string;
  month: string;
  monthEnd: number;
}

/** The last day utcPeriods met: every send of a day shares it, so the date strings are made once a day. */
let lastDay: UtcDay | undefined;

/** The UTC day and month of an instant (`2026-01-31`, `2026-01`) and the milliseconds left in each. */
export function utcPeriods(now: number): {
  day: string;
  dayMsLeft: number;
  month: string;
  monthMsLeft: number;
} {
  let known = lastDay;
  if (known === undefined || now < known.start || now >= known.end) {
    const date = new Date(now);
    const day = date.toISOString().slice(0, 10);
    const start = Date.parse(`${day}T00:00:00.000Z`);
    known = {
      start,
      end: start + DAY_MS,
      day,
      month: day.slice(0, 7),
      monthEnd: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1),
    };
    lastDay = known;
  }
  return {
    day: known.day,
    dayMsLeft: known.end - now,
    month: known.month,
    monthMsLeft: known.monthEnd - now,
  };
}

// The windows' builders are plain functions, not closures made per call: planAdmission runs for
// every message accepted.

function recipientCap(
  windows: AdmitWindow[],
  send: SendToAdmit,
  period: 'hour' | 'day',
  limit: number,
  windowMs: number,
): void {
  if (limit <= 0) return;
  windows.push({
    key: SendKeys.recipient(period, send.tenantId, send.e164),
    by: 1,
    limit,
    windowMs,
    penaltyMs: 0,
    code: 'PIGEON_ERR_RECIPIENT_CAP',
    refusal: `Too many messages to this number: at most ${limit} per ${period} (PIGEON_SEND_PER_RECIPIENT_${period.toUpperCase()}, or this tenant's limits)`,
  });
}

function marketingCap(
  windows: AdmitWindow[],
  send: SendToAdmit,
  now: number,
  period: 'day' | 'week',
  limit: number,
  start: string,
  endsAt: number,
): void {
  if (limit <= 0) return;
  windows.push({
    key: SendKeys.marketing(period, send.tenantId, send.e164, start),
    by: 1,
    limit,
    // The key names its period and ends with it: the recipient's next midnight or Monday.
    windowMs: Math.max(1, endsAt - now),
    penaltyMs: 0,
    code: 'PIGEON_ERR_FREQUENCY_CAPPED',
    refusal: `This number already had ${limit} marketing message${limit === 1 ? '' : 's'} this ${period} (its local ${period}; this tenant's messaging policy)`,
  });
}

function spendCap(
  windows: AdmitWindow[],
  send: SendToAdmit,
  period: string,
  cap: number,
  windowMs: number,
  what: string,
  setting: string,
): void {
  if (cap <= 0) return;
  windows.push({
    key: SendKeys.spend(send.tenantId, period),
    by: send.costMicros,
    // A calendar period, not a sliding window: the key is made to end when the period does.
    limit: Math.round(cap * MICROS),
    windowMs,
    penaltyMs: 0,
    code: 'PIGEON_ERR_SPEND_CAP',
    refusal: `Estimated spend of this tenant ${what} would pass its cap of ${cap} (${setting}, or this tenant's limits)`,
  });
}

/**
 * The bucket and counters one send must pass; a limit of 0 adds no counter. Scope `tenant` leaves
 * out the counters of the recipient and its range, for a caller that keeps its own (verifications).
 */
export function planAdmission(
  send: SendToAdmit,
  limits: SendLimits,
  pumping: PumpingDefence,
  now: number,
  scope: 'message' | 'tenant' = 'message',
): AdmissionPlan {
  const { tenantId, e164 } = send;
  const windows: AdmitWindow[] = [];
  if (scope === 'message') {
    recipientCap(windows, send, 'hour', limits.perRecipientHour, HOUR_MS);
    recipientCap(windows, send, 'day', limits.perRecipientDay, DAY_MS);
  }
  const caps = send.marketingCaps;
  if (scope === 'message' && send.messageClass === 'marketing' && caps) {
    marketingCap(windows, send, now, 'day', caps.perDay, caps.periods.day, caps.periods.dayEndsAt);
    marketingCap(windows, send, now, 'week', caps.perWeek, caps.periods.week, caps.periods.weekEndsAt);
  }
  if (scope === 'message' && send.messageClass === 'otp') {
    const range = numberRange(e164);
    windows.push({
      key: SendKeys.range(tenantId, range),
      by: 1,
      limit: pumping.prefixBurst.limit,
      windowMs: pumping.prefixBurst.windowMs,
      penaltyMs: pumping.prefixBlockMs,
      code: 'PIGEON_ERR_PUMPING_SUSPECTED',
      refusal: `Refused: too many one-time codes to the number range ${range}… (PIGEON_OTP_PREFIX_BURST)`,
    });
  }
  const periods = utcPeriods(now);
  spendCap(
    windows,
    send,
    periods.day,
    limits.dailySpendCap,
    periods.dayMsLeft,
    'today',
    'PIGEON_SEND_DAILY_SPEND_CAP',
  );
  spendCap(
    windows,
    send,
    periods.month,
    limits.monthlySpendCap,
    periods.monthMsLeft,
    'this month',
    'PIGEON_SEND_MONTHLY_SPEND_CAP',
  );
  return {
    bucket: { key: SendKeys.bucket(tenantId), ratePerSecond: limits.ratePerSecond, burst: limits.burst },
    windows,
    ...(scope === 'message' && send.dedup ? { dedup: send.dedup } : {}),
  };
}

/** The plan as the admit script's KEYS and ARGV. */
export function scriptInput(
  plan: AdmissionPlan,
  now: number,
): { keys: string[]; args: Array<number | string> } {
  const { bucket, windows, dedup } = plan;
  // Plain pushes: this runs for every message accepted, and spreads of mapped arrays made three
  // throwaway arrays per window.
  const keys: string[] = [bucket.key];
  const args: Array<number | string> = [now, bucket.ratePerSecond, bucket.burst];
  for (const w of windows) {
    keys.push(w.key);
    args.push(w.by, w.limit, w.windowMs, w.penaltyMs);
  }
  if (dedup) {
    keys.push(dedup.key);
    args.push(dedup.messageId, dedup.windowMs);
  }
  return { keys, args };
}

/** The first message's id when the reply says this send duplicates it. */
export function duplicateOf(reply: AdmitReply): string | undefined {
  return reply[0] === DUPLICATE ? reply[3] : undefined;
}

export interface Refusal {
  error: PigeonError;
  /** The window that refused; undefined for the bucket. */
  window: AdmitWindow | undefined;
  /** This refusal is the first of its window (alert once, not per request). */
  first: boolean;
}

/** What the script's reply means: undefined when admitted, else the error to answer with. */
export function refusalOf(
  plan: AdmissionPlan,
  [refused, retryAfterMs, first]: AdmitReply,
): Refusal | undefined {
  if (refused === 0 || refused === DUPLICATE) return undefined;
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  if (refused === 1) {
    const { ratePerSecond, burst } = plan.bucket;
    return {
      error: new PigeonError(
        'PIGEON_ERR_RATE_LIMITED',
        `Too many sends from this tenant: at most ${ratePerSecond} a second with bursts of ${burst} ` +
          `(PIGEON_SEND_RATE_PER_SECOND, PIGEON_SEND_BURST, or this tenant's limits); retry in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      ),
      window: undefined,
      first: false,
    };
  }
  const window = plan.windows[refused - 2]!;
  return {
    error: new PigeonError(window.code, `${window.refusal}; retry in ${retryAfterSeconds} s`, {
      retryAfterSeconds,
    }),
    window,
    first: first === 1,
  };
}
