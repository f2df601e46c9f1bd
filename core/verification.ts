import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { newId } from './ids.ts';
import { SCHEMA_VERSION } from './message.ts';

/**
 * A Verification: one-time codes sent to a number until one is checked right, it expires, is
 * canceled or runs out of checks. `expired` and `max_attempts` follow from time and the check count;
 * the others are stored. Transitions: api/src/verify/state.ts.
 */
export const VERIFICATION_STATUSES = ['pending', 'approved', 'canceled', 'expired', 'max_attempts'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

/**
 * What one check found, for audit and metrics (the caller sees less: see api/src/verify/verifications.ts).
 * `unknown` covers no such verification and one of another tenant.
 */
export const CHECK_RESULTS = [
  'approved',
  'wrong',
  'unknown',
  'expired',
  'max_attempts',
  'canceled',
  'already_approved',
] as const;
export type CheckResult = (typeof CHECK_RESULTS)[number];

/** Names of the audit events on `otp.events`; logs and metrics use the same words. */
export const VerificationEvents = {
  sent: 'verification.sent',
  checked: 'verification.checked',
  approved: 'verification.approved',
  blocked: 'verification.blocked',
  canceled: 'verification.canceled',
} as const;

/**
 * An audit event. It never carries a code, a TOTP secret or a full number: `to` is masked, and the
 * monitor joins `messageId` with the bridge's `message.submitted` to learn the provider, which the
 * api does not know when it sends.
 */
export const VerificationEvent = Type.Object({
  schemaVersion: Type.Integer({ minimum: 1 }),
  id: Type.String(),
  occurredAt: Type.String({ format: 'date-time' }),
  type: Type.Enum(Object.values(VerificationEvents)),
  tenantId: Type.String(),
  verificationId: Type.Optional(Type.String()),
  /** The message that carried the latest code (sent), or whose code was checked. */
  messageId: Type.Optional(Type.String()),
  to: Type.Optional(Type.String({ description: 'masked, e.g. +1415*****23' })),
  country: Type.Optional(Type.String()),
  sendCount: Type.Optional(Type.Integer({ minimum: 0 })),
  result: Type.Optional(Type.Enum(CHECK_RESULTS)),
  method: Type.Optional(Type.Enum(['sms', 'totp'])),
  /** For `verification.blocked`: the error code the request was refused with. */
  reason: Type.Optional(Type.String()),
});
export type VerificationEvent = Static<typeof VerificationEvent>;

const validator = Compile(VerificationEvent);

export function verificationEvent(
  type: VerificationEvent['type'],
  tenantId: string,
  now: number,
  fields: Omit<VerificationEvent, 'schemaVersion' | 'id' | 'occurredAt' | 'type' | 'tenantId'>,
): VerificationEvent {
  return {
    schemaVersion: SCHEMA_VERSION,
    id: newId(now),
    occurredAt: new Date(now).toISOString(),
    type,
    tenantId,
    ...fields,
  };
}

/** Parses and validates an event from `otp.events`; undefined for anything else. */
export function decodeVerificationEvent(raw: string): VerificationEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return validator.Check(value) ? value : undefined;
}
