import type { VerificationStatus } from '../../../core/verification.ts';
import { MAX_CHECKS } from './policy.ts';

/**
 * The verification state machine. `pending` is the only state that changes; each of the others
 * is final. A re-send keeps a verification pending (new code, new expiry); the check count is
 * never reset, so re-sending cannot buy more guesses.
 *
 *   pending ──right code──────────▶ approved
 *   pending ──cancel──────────────▶ canceled
 *   pending ──expiry passes───────▶ expired
 *   pending ──5th wrong check─────▶ max_attempts
 *   pending ──re-send─────────────▶ pending
 */
export const VERIFICATION_TRANSITIONS: Readonly<Record<VerificationStatus, readonly VerificationStatus[]>> = {
  pending: ['pending', 'approved', 'canceled', 'expired', 'max_attempts'],
  approved: [],
  canceled: [],
  expired: [],
  max_attempts: [],
};

export function canTransition(from: VerificationStatus, to: VerificationStatus): boolean {
  return VERIFICATION_TRANSITIONS[from].includes(to);
}

/** The fields of a stored verification the status follows from. */
export interface StatusFields {
  /** As stored: pending, approved or canceled. */
  stored: 'pending' | 'approved' | 'canceled';
  expiresAt: number;
  checks: number;
}

/** The status a stored verification has at `now`: expiry and exhausted checks are derived. */
export function statusAt(fields: StatusFields, now: number): VerificationStatus {
  if (fields.stored !== 'pending') return fields.stored;
  if (fields.checks >= MAX_CHECKS) return 'max_attempts';
  if (now >= fields.expiresAt) return 'expired';
  return 'pending';
}
