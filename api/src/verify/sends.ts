import type { Cache } from '../../../core/cache/cache.ts';
import { newId } from '../../../core/ids.ts';
import { PigeonError } from '../../../core/errors.ts';
import type { TotpFactorRecord } from '../../../core/store/kinds/factors.ts';
import { codeDigest } from './code.ts';
import { MAX_CHECKS, MAX_SENDS, RESEND_INTERVALS_MS } from './policy.ts';
import type { SendLimitsCall } from './limits.ts';
import { admitAndCreate, createVerification, resendVerification, revertSend, VerifyKeys } from './scripts.ts';

/** A verification stays readable (GET) this long after its last possible use. */
const RETENTION_MS = 3_600_000;
/** A create that keeps racing other creates for the same number gives up after this many rounds. */
const MAX_START_ROUNDS = 3;

/** What a send changed in the cache, so that a send the bus did not take can be put back. */
type Undo =
  | { mode: 'created' }
  | { mode: 'resent'; digest: string; sentAt: number; expiresAt: number; messageId: string };

export interface Send {
  verificationId: string;
  expiresAt: number;
  sendCount: number;
  /** False when this re-sent a pending verification. */
  created: boolean;
  undo: Undo;
}

export interface SendClaim {
  tenantId: string;
  destination: { e164: string; country: string };
  /** The locale the verification's texts are in. */
  locale: string;
  messageId: string;
  code: string;
  otpKey: Buffer;
  /** The number's pending verification as the index named it, if any. */
  existing: string | undefined;
  factor: TotpFactorRecord | undefined;
  now: number;
  ttlMs: number;
}

/**
 * Reserves the send in the cache: re-sends the pending verification, or creates one. Throws
 * PIGEON_ERR_SEND_LIMIT when the pending one may not be re-sent (yet).
 */
export async function claimSend(cache: Cache, claim: SendClaim): Promise<Send> {
  const { tenantId, destination, messageId, code, otpKey, now } = claim;
  const index = VerifyKeys.index(tenantId, destination.e164);
  const expiresAt = now + claim.ttlMs;
  let pending = claim.existing;
  let replaceable = '';
  for (let round = 0; round < MAX_START_ROUNDS; round++) {
    if (pending !== undefined) {
      const reply = await cache.runScript(
        resendVerification,
        [VerifyKeys.record(tenantId, pending), index],
        [
          pending,
          now,
          tenantId,
          codeDigest(otpKey, pending, code),
          expiresAt,
          expiresAt + RETENTION_MS,
          messageId,
          MAX_SENDS,
          MAX_CHECKS,
          ...RESEND_INTERVALS_MS,
        ],
      );
      if (reply[0] === 'resent') {
        const [, sendCount, digest, sentAt, previousExpiry, previousMessageId] = reply;
        return {
          verificationId: pending,
          expiresAt,
          sendCount,
          created: false,
          undo: { mode: 'resent', digest, sentAt, expiresAt: previousExpiry, messageId: previousMessageId },
        };
      }
      if (reply[0] === 'limit' || reply[0] === 'too_soon') {
        const retryAfterSeconds = Math.max(1, Math.ceil(reply[1] / 1000));
        throw new PigeonError(
          'PIGEON_ERR_SEND_LIMIT',
          reply[0] === 'limit'
            ? `This number's verification was sent ${MAX_SENDS} times; a new one can start when it expires in ${retryAfterSeconds} s`
            : `Re-sending this number's code is allowed again in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        );
      }
      replaceable = pending;
    }
    const id = newId(now);
    const [outcome, other] = await cache.runScript(
      createVerification,
      [VerifyKeys.record(tenantId, id), index],
      createArgs(claim, id, replaceable),
    );
    if (outcome === 'created') {
      return { verificationId: id, expiresAt, sendCount: 1, created: true, undo: { mode: 'created' } };
    }
    // Another request created one for this number in between: re-send that one instead.
    pending = other;
  }
  throw new PigeonError('PIGEON_ERR_RATE_LIMITED', 'Too many concurrent requests for this number', {
    retryAfterSeconds: 1,
  });
}

/** The create script's ARGV for a new verification `id` (replacing `replaceable`, or ''). */
function createArgs(claim: SendClaim, id: string, replaceable: string): Array<string | number> {
  const { factor, now } = claim;
  const expiresAt = now + claim.ttlMs;
  return [
    id,
    replaceable,
    expiresAt,
    expiresAt + RETENTION_MS,
    claim.tenantId,
    claim.destination.e164,
    claim.destination.country,
    claim.locale,
    codeDigest(claim.otpKey, id, claim.code),
    now,
    claim.messageId,
    factor?.id ?? '',
    factor?.secret ?? '',
  ];
}

/**
 * claimSend for a number the index named no pending verification for, with the send's limits
 * (VerificationLimits.sendLimits) in the same script: one round trip instead of two. Returns the
 * send, or the id of a pending verification another request made in between, for which nothing
 * was counted (the caller re-sends it through hitSendLimits and claimSend). A refusal of the
 * limits is thrown by `limits.settle`, and then nothing was counted or created.
 */
export async function createWithinLimits(
  cache: Cache,
  claim: SendClaim,
  limits: SendLimitsCall,
): Promise<Send | { pending: string }> {
  const id = newId(claim.now);
  const reply = await cache.runScript(
    admitAndCreate,
    [
      ...limits.keys,
      VerifyKeys.record(claim.tenantId, id),
      VerifyKeys.index(claim.tenantId, claim.destination.e164),
    ],
    [...limits.args, ...createArgs(claim, id, '')],
  );
  if (reply[0] === 'exists') return { pending: reply[1] };
  if (reply[0] === 'refused') {
    limits.settle([reply[1], reply[2], reply[3]]);
    throw new Error(`send limits refused with ${reply[1]} yet settled`);
  }
  return {
    verificationId: id,
    expiresAt: claim.now + claim.ttlMs,
    sendCount: 1,
    created: true,
    undo: { mode: 'created' },
  };
}

/** Puts back what claimSend changed, for a send whose message the bus did not take. */
export async function undoSend(
  cache: Cache,
  tenantId: string,
  e164: string,
  send: Send,
  messageId: string,
): Promise<void> {
  const undo = send.undo;
  await cache.runScript(
    revertSend,
    [VerifyKeys.record(tenantId, send.verificationId), VerifyKeys.index(tenantId, e164)],
    undo.mode === 'created'
      ? [send.verificationId, messageId, 'created']
      : [
          send.verificationId,
          messageId,
          'resent',
          undo.digest,
          undo.sentAt,
          undo.expiresAt,
          undo.messageId,
          undo.expiresAt + RETENTION_MS,
        ],
  );
}
