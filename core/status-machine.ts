import type { MessageStatus } from './message.ts';

/**
 * The message status machine, as a total order. A status may only be replaced by one of higher
 * rank, so replays, duplicates and out-of-order events (a receipt before its `submitted`)
 * converge to the same final status whatever order they arrive in: a late `submitted` never
 * overwrites `delivered`. The order is total (no ties) precisely so the result is order-independent.
 */
export const STATUS_RANK: Readonly<Record<MessageStatus, number>> = Object.freeze({
  queued: 10,
  submitted: 20,
  unknown: 30,
  expired: 40,
  undelivered: 45,
  rejected: 50,
  // Decided by the bridge before any provider call: nothing can follow it but a replay.
  skipped: 52,
  failed: 55,
  delivered: 60,
});

export const TERMINAL_STATUSES: ReadonlySet<MessageStatus> = new Set([
  'delivered',
  'undelivered',
  'failed',
  'expired',
  'rejected',
  'skipped',
]);

/** The status that results from applying `next` to a message currently at `current`. */
export function advance(current: MessageStatus | undefined, next: MessageStatus): MessageStatus {
  if (current === undefined) return next;
  return STATUS_RANK[next] > STATUS_RANK[current] ? next : current;
}

export function isTerminal(status: MessageStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}
