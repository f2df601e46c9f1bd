import { type CountryCode, type PhoneNumber, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { PigeonError } from './errors.ts';

export interface ParsedRecipient {
  e164: string;
  country: CountryCode | undefined;
}

/** Parses a strict E.164 number (`+` and digits only); returns undefined when it is not a valid number. */
export function parseE164(input: string): ParsedRecipient | undefined {
  const parsed = parseStrict(input);
  return parsed && recipientOf(parsed);
}

/**
 * Parses a strict E.164 number given in the request field `field` (`to`, `from`), or refuses it
 * with PIGEON_ERR_INVALID_NUMBER naming that field: the one wording every endpoint answers with.
 */
export function requireE164(input: string, field: string): ParsedRecipient {
  return recipientOf(requirePhoneNumber(input, field));
}

/** As requireE164, with libphonenumber's full view of the number, for callers that judge its type. */
export function requirePhoneNumber(input: string, field: string): PhoneNumber {
  const parsed = parseStrict(input);
  if (parsed) return parsed;
  throw new PigeonError(
    'PIGEON_ERR_INVALID_NUMBER',
    `"${field}" must be a valid E.164 number such as +14155550123`,
    { errors: [{ field: `/${field}`, message: 'not a valid E.164 phone number' }] },
  );
}

/** `+14155550123` → `+1415*****23`: enough to recognise a number in a log, not enough to dial it. */
export function maskPhone(e164: string): string {
  if (e164.length <= 6) return '*'.repeat(e164.length);
  return e164.slice(0, 5) + '*'.repeat(e164.length - 7) + e164.slice(-2);
}

function parseStrict(input: string): PhoneNumber | undefined {
  if (!/^\+[1-9]\d{6,14}$/.test(input)) return undefined;
  const parsed = parsePhoneNumberFromString(input);
  return parsed?.isValid() ? parsed : undefined;
}

function recipientOf(parsed: PhoneNumber): ParsedRecipient {
  return { e164: parsed.number, country: parsed.country };
}
