import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js/max';

export interface ParsedRecipient {
  e164: string;
  country: CountryCode | undefined;
}

/** Parses a strict E.164 number (`+` and digits only); returns undefined when it is not a valid number. */
export function parseE164(input: string): ParsedRecipient | undefined {
  if (!/^\+[1-9]\d{6,14}$/.test(input)) return undefined;
  const parsed = parsePhoneNumberFromString(input);
  if (!parsed?.isValid()) return undefined;
  return { e164: parsed.number, country: parsed.country };
}

/** `+14155550123` → `+1415*****23`: enough to recognise a number in a log, not enough to dial it. */
export function maskPhone(e164: string): string {
  if (e164.length <= 6) return '*'.repeat(e164.length);
  return e164.slice(0, 5) + '*'.repeat(e164.length - 7) + e164.slice(-2);
}
