import type { NumberType } from 'libphonenumber-js/max';
import { PigeonError } from '../../../core/errors.ts';
import type { MessageClass } from '../../../core/message.ts';
import { requirePhoneNumber } from '../../../core/phone.ts';

/**
 * Where a one-time code (a verification, or an `otp` or `alert` message) may go, as pure
 * functions: a country on the allowlist and a number of a type that is a handset.
 */

/** Message classes held to the destination rules: a code or a page must reach a person's handset. */
export const GUARDED_CLASSES: ReadonlySet<MessageClass> = new Set<MessageClass>(['otp', 'alert']);

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
  /** What is being sent, for the refusal: one-time codes, or on-call alerts. */
  what = 'one-time codes',
): Destination {
  const parsed = requirePhoneNumber(to, 'to');
  const country = parsed.country;
  if (country === undefined || !allowedCountries.has(country)) {
    throw new PigeonError(
      'PIGEON_ERR_COUNTRY_NOT_ALLOWED',
      `${what[0]!.toUpperCase()}${what.slice(1)} to ${country ?? `+${parsed.countryCallingCode} numbers of no single country`} are not enabled: ` +
        `${setting} lists ${[...allowedCountries].join(', ')}`,
      { errors: [{ field: '/to', message: `country ${country ?? 'unknown'} is not allowed` }] },
    );
  }
  const type = parsed.getType();
  if (type !== undefined && REFUSED_NUMBER_TYPES.has(type)) {
    const kind = type.toLowerCase().replaceAll('_', ' ');
    throw new PigeonError(
      'PIGEON_ERR_NUMBER_TYPE_REFUSED',
      `${parsed.number.slice(0, 5)}… is a ${kind} number, which cannot receive ${what}; ask for a mobile number`,
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
