import { timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from './hmac.ts';

/**
 * The signature on everything Pigeon posts to a customer or an operator (status callbacks,
 * alert webhooks), Stripe-style: `Pigeon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(secret,
 * "<t>.<body>")>`. The timestamp is inside the signed text, so a receiver that checks it against
 * its clock refuses a captured request replayed later. The key is the whole secret string
 * (`whsec_` included) as UTF-8.
 */
export const SIGNATURE_HEADER = 'pigeon-signature';
/** How old a signed request a receiver should accept (the customary five minutes). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

function mac(secret: string, timestamp: number, body: string): string {
  return hmacSha256(secret).digest(`${timestamp}.${body}`, 'hex');
}

export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const t = Math.floor(unixSeconds);
  return `t=${t},v1=${mac(secret, t, body)}`;
}

/**
 * Checks a `Pigeon-Signature` header against the raw body, for receivers (and our tests). Any `v1`
 * may match, so a sender can sign with an old and a new secret while the secret is rotated.
 */
export function verifySignatureHeader(
  secret: string,
  header: string | undefined,
  body: string,
  nowMs = Date.now(),
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): boolean {
  if (!header) return false;
  let timestamp = Number.NaN;
  const given: string[] = [];
  for (const part of header.split(',')) {
    const [key, value = ''] = part.trim().split('=', 2);
    if (key === 't') timestamp = Number(value);
    else if (key === 'v1') given.push(value);
  }
  if (!Number.isInteger(timestamp) || Math.abs(nowMs / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(mac(secret, timestamp, body), 'hex');
  return given.some((v) => {
    const candidate = Buffer.from(v, 'hex');
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  });
}
