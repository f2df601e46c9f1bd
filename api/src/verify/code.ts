import { randomInt, timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from '../../../core/hmac.ts';

export const MIN_CODE_LENGTH = 4;
export const MAX_CODE_LENGTH = 10;
export const DEFAULT_CODE_LENGTH = 6;

/**
 * A code of `length` decimal digits, uniform over all 10^length values, from the operating
 * system's CSPRNG (crypto.randomInt rejects biased draws), so no code says anything about another.
 */
export function generateCode(length: number): string {
  if (!Number.isInteger(length) || length < MIN_CODE_LENGTH || length > MAX_CODE_LENGTH) {
    throw new RangeError(`code length must be ${MIN_CODE_LENGTH}–${MAX_CODE_LENGTH}, got ${length}`);
  }
  // 10^10 < 2^48, the widest range randomInt draws in one go.
  return String(randomInt(0, 10 ** length)).padStart(length, '0');
}

/**
 * What is stored instead of the code: HMAC-SHA-256 under the server key over the verification id
 * and the code. The id in the input makes every verification's digests distinct, so a digest
 * copied from one verification says nothing about another, and nobody without the key can test
 * candidate codes against a leaked store (10^6 codes would take no time to hash without a key).
 */
export function codeDigest(key: Buffer, verificationId: string, code: string): string {
  return hmacSha256(key).digest(`${verificationId}\0${code}`);
}

// A digest of the right length that no code produces, for comparisons that must take the same
// time whether or not there was anything to compare against.
const NO_DIGEST = Buffer.alloc(32, 0);

/**
 * True when `code` is the one behind `storedDigest`, compared in constant time. With no stored
 * digest the same work is done against a dummy, so "no such verification" takes as long as
 * "wrong code".
 */
export function codeMatches(
  key: Buffer,
  verificationId: string,
  code: string,
  storedDigest: string | undefined,
): boolean {
  const candidate = Buffer.from(codeDigest(key, verificationId, code), 'base64url');
  const stored = storedDigest === undefined ? NO_DIGEST : Buffer.from(storedDigest, 'base64url');
  const same = stored.length === candidate.length && timingSafeEqual(candidate, stored);
  return same && storedDigest !== undefined;
}
