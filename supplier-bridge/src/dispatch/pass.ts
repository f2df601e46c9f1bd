import type { BusRecord } from '../../../core/bus/bus.ts';
import type { AttemptFailed, MessageHeld, OutcomeEvent } from '../../../core/message.ts';

/**
 * Which pass over a message this is. `send`: its first delivery from a lane. `retry`: a later
 * round after every provider refused without sending. `receipt-check`: an OTP or alert submitted
 * earlier whose delivered receipt may be overdue. `held`: a marketing message held for quiet hours,
 * back after one delay-topic hop (an hour at most), either to be held again or to be sent.
 */
export type PassKind = 'send' | 'retry' | 'receipt-check' | 'held';

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
  /** A held pass: the end of the quiet window it was held for, to tell whether the hold moved. */
  holdUntil?: number;
}

/** Everything one pass decides; stored whole so a replay republishes exactly the same records. */
export interface PassResult {
  /** Calls of the pass that did not take the message while it went on; published before `outcome`. */
  attempts?: AttemptFailed[];
  outcome?: OutcomeEvent;
  /** A record for a delay topic: the next retry round or a receipt check. */
  followUp?: { topic: string; record: BusRecord };
  dlq?: BusRecord;
  /** The message was held for quiet hours (reported once per hold); published with the outcomes. */
  held?: MessageHeld;
  /** The pass cannot run yet (another bridge may still be on it): ask again at this time. */
  notBefore?: number;
}

/**
 * How a pass waits for a provider's answer. A pass that only waits runs nothing meanwhile: the
 * bridge's lower-lane gate (lower-lane-gate.ts) lets another pass have its place for the wait, so
 * a provider that hangs until its timeout does not hold back the passes bound for the others.
 */
export type AwaitAnswer = <T>(answer: Promise<T>) => Promise<T>;

/** Waits in place: a pass that holds no place others wait for. */
export const awaitInPlace: AwaitAnswer = (answer) => answer;

/** The name of a pass among a message's passes; each has its own claim and result markers. */
export function passKey(pass: Pass): string {
  return `${pass.kind}:${pass.round}`;
}
