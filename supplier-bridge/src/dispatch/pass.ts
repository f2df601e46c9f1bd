import type { BusRecord } from '../../../core/bus/bus.ts';
import type { AttemptFailed, OutcomeEvent } from '../../../core/message.ts';

/**
 * Which pass over a message this is. `send`: its first delivery from a lane. `retry`: a later
 * round after every provider refused without sending. `receipt-check`: an OTP or alert submitted
 * earlier whose delivered receipt may be overdue.
 */
export type PassKind = 'send' | 'retry' | 'receipt-check';

export interface Pass {
  kind: PassKind;
  /** 0 for the first send; n for the n-th retry round or receipt check. */
  round: number;
  /** Broker append time of the record (for the accept-deadline check). */
  appendedAt: number;
  /** Providers not to use: tried ambiguously already, or the one whose receipt never came. */
  exclude: readonly string[];
  /** Provider calls made for this message in earlier passes. */
  attemptsSoFar: number;
  /**
   * Earlier passes that called a provider and were refused. These set the retry wait and the
   * DLQ limit; a pass that called nobody (every breaker open, every gate shut) does not count.
   * Absent on a first send (0) and on records written before it existed (then `round`).
   */
  refusedRounds?: number;
}

/** Everything one pass decides; stored whole so a replay republishes exactly the same records. */
export interface PassResult {
  /** Calls of the pass that did not take the message while it went on; published before `outcome`. */
  attempts?: AttemptFailed[];
  outcome?: OutcomeEvent;
  /** A record for a delay topic: the next retry round or a receipt check. */
  followUp?: { topic: string; record: BusRecord };
  dlq?: BusRecord;
  /** The pass cannot run yet (another bridge may still be on it): ask again at this time. */
  notBefore?: number;
}

/** The name of a pass among a message's passes; each has its own claim and result markers. */
export function passKey(pass: Pass): string {
  return `${pass.kind}:${pass.round}`;
}
