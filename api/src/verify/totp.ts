import { generateSecret, generateURI, verify } from 'otplib';

/**
 * Authenticator-app factors (RFC 6238 TOTP, the defaults every app supports: SHA-1, 6 digits,
 * 30 s), so a user whose SMS does not arrive can still sign in. The secret is stored sealed
 * (core/sealed-body.ts) and shown once, inside the otpauth:// URI, when the factor is created.
 */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Codes one step either side of now are accepted: phone clocks drift and people type slowly. */
const TOLERANCE_SECONDS = TOTP_PERIOD_SECONDS;
/** Long enough that a step claimed for replay protection outlives every window that accepts it. */
export const TOTP_STEP_TTL_MS = 5 * TOTP_PERIOD_SECONDS * 1000;

/** A new secret: 160 random bits, base32, as authenticator apps expect. */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function totpUri(secret: string, issuer: string, label: string): string {
  return generateURI({ issuer, label, secret, digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });
}

/** The time step `code` belongs to when it is valid for `secret` at `now` (ms), else undefined. */
export async function totpStep(secret: string, code: string, now: number): Promise<number | undefined> {
  if (code.length !== TOTP_DIGITS) return undefined;
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(now / 1000),
    epochTolerance: TOLERANCE_SECONDS,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
  });
  return result.valid && 'timeStep' in result ? result.timeStep : undefined;
}
