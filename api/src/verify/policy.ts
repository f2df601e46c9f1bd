import { isIPv6 } from 'node:net';
import type { NumberType } from 'libphonenumber-js/max';
import { PigeonError } from '../../../core/errors.ts';
import { requirePhoneNumber } from '../../../core/phone.ts';

/**
 * OTP policy as pure functions: where codes may go, how often, and what that may cost.
 * Verifications (verifications.ts) and their limits (limits.ts) apply it with counters in the cache.
 */

/** Sends a verification may make: the first and up to four re-sends. */
export const MAX_SENDS = 5;
/** Checks a verification evaluates, whatever the code and however many arrive at once. */
export const MAX_CHECKS = 5;

/**
 * The pause before each send, by send number (index 0: the first send). Growing, so a script that
 * hammers "resend" gets five codes in seven and a half minutes at most.
 */
export const RESEND_INTERVALS_MS = [0, 30_000, 60_000, 120_000, 240_000] as const;

/**
 * Number types refused for codes: disposable (VoIP), paid to their owner (premium rate, shared
 * cost, universal access — the SMS pumping business) or not a handset (pager, voicemail, personal
 * "follow-me" numbers, a classic fraud vehicle in the UK). libphonenumber can only tell these apart
 * where the numbering plan does; in mixed ranges (the US) a VoIP number reads as fixed-line-or-mobile
 * and passes, which the velocity and prefix limits then have to catch.
 */
export const REFUSED_NUMBER_TYPES: ReadonlySet<NumberType> = new Set<NumberType>([
  'VOIP',
  'PREMIUM_RATE',
  'SHARED_COST',
  'UAN',
  'PAGER',
  'VOICEMAIL',
  'PERSONAL_NUMBER',
]);

export interface Destination {
  e164: string;
  country: string;
  type: NumberType;
}

/**
 * Checks that a number may receive codes: valid E.164, a country on the allowlist, and not a
 * refused type. Throws PigeonError with a code naming the reason (and `setting`, the allowlist's
 * source, to change).
 */
export function checkDestination(
  to: string,
  allowedCountries: ReadonlySet<string>,
  setting = "the gateway's PIGEON_OTP_ALLOWED_COUNTRIES setting",
): Destination {
  const parsed = requirePhoneNumber(to, 'to');
  const country = parsed.country;
  if (country === undefined || !allowedCountries.has(country)) {
    throw new PigeonError(
      'PIGEON_ERR_COUNTRY_NOT_ALLOWED',
      `One-time codes to ${country ?? `+${parsed.countryCallingCode} numbers of no single country`} are not enabled: ` +
        `${setting} lists ${[...allowedCountries].join(', ')}`,
      { errors: [{ field: '/to', message: `country ${country ?? 'unknown'} is not allowed` }] },
    );
  }
  const type = parsed.getType();
  if (type !== undefined && REFUSED_NUMBER_TYPES.has(type)) {
    const kind = type.toLowerCase().replaceAll('_', ' ');
    throw new PigeonError(
      'PIGEON_ERR_NUMBER_TYPE_REFUSED',
      `${parsed.number.slice(0, 5)}… is a ${kind} number, which cannot receive one-time codes; ask for a mobile number`,
      { errors: [{ field: '/to', message: `${kind} number` }] },
    );
  }
  return { e164: parsed.number, country, type: type ?? 'FIXED_LINE_OR_MOBILE' };
}

/**
 * The block of numbers a number belongs to (all but its last three digits, so 1,000 numbers):
 * pumping bots walk through such a block, which a per-number limit never sees.
 */
export function numberRange(e164: string): string {
  return e164.slice(0, -3);
}

/**
 * The part of a client address velocity limits count by: an IPv4 address, or the /64 of an IPv6
 * one, since a single subscriber gets a whole /64 and could otherwise rotate through it.
 */
export function clientKey(ip: string): string {
  const address = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::', 2);
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
    : headGroups;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * When the next send of a verification may go: undefined when it may go now, `'limit'` when the
 * verification has made all its sends, else the earliest instant (ms).
 */
export function nextSendAt(sendCount: number, lastSentAt: number, now: number): number | 'limit' | undefined {
  if (sendCount >= MAX_SENDS) return 'limit';
  const due = lastSentAt + RESEND_INTERVALS_MS[sendCount]!;
  return now >= due ? undefined : due;
}

/** Spend counters hold millionths of the currency unit: integers, so INCRBY can add them. */
export const MICROS = 1_000_000;

export function estimatedCostMicros(segments: number, pricePerPart: number): number {
  return Math.round(segments * pricePerPart * MICROS);
}

/** The UTC day of an instant, `2026-01-31`, and the milliseconds left in it. */
export function utcDay(now: number): { day: string; msLeft: number } {
  const day = new Date(now).toISOString().slice(0, 10);
  const nextMidnight = Date.parse(`${day}T00:00:00.000Z`) + 86_400_000;
  return { day, msLeft: nextMidnight - now };
}
