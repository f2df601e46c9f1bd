import type { BusRecord } from '../../../core/bus/bus.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { delayTopicFor } from '../../../core/topics.ts';
import type { Pass, PassKind } from './pass.ts';

/** Headers of a delay-topic record that say which pass over its message it asks for. */
export const PASS_HEADERS = {
  kind: 'pigeon-pass',
  round: 'pigeon-round',
  due: 'pigeon-due',
  exclude: 'pigeon-exclude',
  attempts: 'pigeon-attempts',
  refusedRounds: 'pigeon-refused-rounds',
  holdUntil: 'pigeon-hold-until',
  appendedAt: 'pigeon-appended-at',
} as const;

/** The pass a follow-up record asks for, and when it is due. */
export interface NextPass {
  kind: PassKind;
  round: number;
  refusedRounds?: number;
  dueAt: number;
  exclude: string[];
  attempts: number;
  /** A held pass: the end of its quiet window, which may lie past `dueAt` (hops are an hour at most). */
  holdUntil?: number;
  /**
   * A deferred first send (another bridge's claim still on it): when its lane record was appended,
   * which the accept-deadline check needs, not the delay record's time.
   */
  appendedAt?: number;
}

/** The delay-topic record that brings `message` back for its next pass. */
export function followUpRecord(
  message: MessageRequested,
  next: NextPass,
  now: number,
): { topic: string; record: BusRecord } {
  return {
    topic: delayTopicFor(next.dueAt - now),
    record: {
      key: message.messageId,
      value: JSON.stringify(message),
      headers: {
        [PASS_HEADERS.kind]: next.kind,
        [PASS_HEADERS.round]: String(next.round),
        [PASS_HEADERS.due]: String(next.dueAt),
        [PASS_HEADERS.exclude]: next.exclude.join(','),
        [PASS_HEADERS.attempts]: String(next.attempts),
        ...(next.refusedRounds === undefined
          ? {}
          : { [PASS_HEADERS.refusedRounds]: String(next.refusedRounds) }),
        ...(next.holdUntil === undefined ? {} : { [PASS_HEADERS.holdUntil]: String(next.holdUntil) }),
        ...(next.appendedAt === undefined ? {} : { [PASS_HEADERS.appendedAt]: String(next.appendedAt) }),
      },
    },
  };
}

/** Reads a pass back from a delay-topic record's headers. */
export function passFromHeaders(
  headers: Record<string, string> | undefined,
  appendedAt: number,
): (Pass & { dueAt: number }) | undefined {
  const kind = headers?.[PASS_HEADERS.kind];
  const firstAppendedAt = headers?.[PASS_HEADERS.appendedAt];
  // A first send comes back from a delay topic only when deferred, carrying its lane record's time.
  const deferredSend = kind === 'send' && firstAppendedAt !== undefined;
  if (kind !== 'retry' && kind !== 'receipt-check' && kind !== 'held' && !deferredSend) return undefined;
  const exclude = headers?.[PASS_HEADERS.exclude];
  const round = Number(headers?.[PASS_HEADERS.round] ?? 1);
  const refusedRounds = headers?.[PASS_HEADERS.refusedRounds];
  const holdUntil = headers?.[PASS_HEADERS.holdUntil];
  return {
    ...(holdUntil === undefined ? {} : { holdUntil: Number(holdUntil) }),
    kind,
    round,
    refusedRounds: refusedRounds === undefined ? round : Number(refusedRounds),
    dueAt: Number(headers?.[PASS_HEADERS.due] ?? 0),
    appendedAt: firstAppendedAt === undefined ? appendedAt : Number(firstAppendedAt),
    exclude: exclude ? exclude.split(',') : [],
    attemptsSoFar: Number(headers?.[PASS_HEADERS.attempts] ?? 0),
  };
}
