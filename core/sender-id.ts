import { PigeonError } from './errors.ts';
import { parseE164 } from './phone.ts';

/**
 * A message's sender: what the handset shows as "from". Checked before it reaches any provider,
 * because providers pass it on as given (CR/LF into headers and form bodies, markup into XML).
 */
export type SenderKind = 'alphanumeric' | 'number' | 'short_code';

export interface SenderId {
  value: string;
  kind: SenderKind;
}

/**
 * Alphanumeric sender ids: 1–11 characters (the GSM 03.40 limit), letters A–Z and a–z, digits,
 * space, `.`, `-` and `_` — all in the GSM-7 basic set and accepted by every carrier we route to —
 * starting and ending with a letter or digit, with at least one letter (all digits is a number).
 */
export const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,9}[A-Za-z0-9])?$/;
/** Short codes: 3 to 8 digits, as national short codes run. */
export const SHORT_CODE_SENDER = /^\d{3,8}$/;

/** The sender's kind, or undefined when it is none of an alphanumeric id, an E.164 number or a short code. */
export function parseSenderId(input: string): SenderId | undefined {
  if (ALPHANUMERIC_SENDER.test(input) && !input.includes('  ')) return { value: input, kind: 'alphanumeric' };
  if (SHORT_CODE_SENDER.test(input)) return { value: input, kind: 'short_code' };
  const number = input.startsWith('+') ? parseE164(input) : undefined;
  if (number) return { value: number.e164, kind: 'number' };
  return undefined;
}

/** As parseSenderId, or PIGEON_ERR_INVALID_SENDER naming the request field. */
export function requireSenderId(input: string, field: string): SenderId {
  const sender = parseSenderId(input);
  if (sender) return sender;
  throw new PigeonError(
    'PIGEON_ERR_INVALID_SENDER',
    `"${field}" must be an alphanumeric sender id (1–11 of A–Z a–z 0–9 space . - _, at least one letter), an E.164 number or a 3–8 digit short code`,
    { errors: [{ field: `/${field}`, message: 'not a valid sender id' }] },
  );
}
