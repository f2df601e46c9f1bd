import { createHash } from 'node:crypto';
import { idOf } from '../../core/ids.ts';
import { type MessageClass, type MessageFailed, SCHEMA_VERSION } from '../../core/message.ts';
import type { OverdueReceipt } from '../../core/store/kinds/messages.ts';

/** The error class and code of a message that ended `unknown` because its receipt never came. */
export const RECEIPT_DEADLINE = 'receipt_deadline';

/** One class's part of a sweep: its messages submitted before `submittedBefore` are overdue. */
export interface OverdueCutoff {
  messageClass: MessageClass;
  deadlineMs: number;
  submittedBefore: number;
}

/** The cutoff of every class with a deadline at `now`; a class whose deadline is 0 waits forever. */
export function overdueCutoffs(
  deadlines: Readonly<Record<MessageClass, number>>,
  now: number,
): OverdueCutoff[] {
  return (Object.entries(deadlines) as [MessageClass, number][])
    .filter(([, deadlineMs]) => deadlineMs > 0)
    .map(([messageClass, deadlineMs]) => ({ messageClass, deadlineMs, submittedBefore: now - deadlineMs }));
}

/**
 * The deadline event's id: its time is the moment the deadline passed and its random part comes
 * from the message id. Two persisters sweeping the same message at once, or a sweep repeated
 * before the first one's event was folded, make the same id, and the history (unique event id) and
 * the callback outbox (row id = event id) keep one.
 */
export function receiptDeadlineEventId(
  message: Pick<OverdueReceipt, 'id' | 'submittedAt'>,
  deadlineMs: number,
): string {
  const seed = createHash('sha256').update(`${RECEIPT_DEADLINE}:${message.id}`).digest();
  return idOf(message.submittedAt + deadlineMs, seed);
}

/**
 * The outcome that ends an overdue message: `message.failed` with status `unknown`, exactly what
 * the bridge reports for an ambiguous send, so the persister folds it, the outbox writer calls the
 * tenant back and the monitor counts it like any other. It names no provider on purpose: the
 * provider took the message (it is the receipt that is missing), and an event naming one would
 * be read as a failed call, overwriting the attempt's `submitted` record and counting against the
 * provider's health. A receipt arriving later still upgrades the status (delivered ranks above
 * unknown).
 */
export function receiptDeadlineEvent(
  message: OverdueReceipt,
  deadlineMs: number,
  now: number,
): MessageFailed {
  const hours = Math.round((deadlineMs / 3_600_000) * 100) / 100;
  return {
    schemaVersion: SCHEMA_VERSION,
    id: receiptDeadlineEventId(message, deadlineMs),
    occurredAt: new Date(now).toISOString(),
    messageId: message.id,
    tenantId: message.tenantId,
    type: 'message.failed',
    status: 'unknown',
    attempt: message.attempt,
    errorClass: RECEIPT_DEADLINE,
    errorCode: RECEIPT_DEADLINE,
    reason: `no delivery receipt within ${hours} h of submission`,
    class: message.messageClass,
  };
}
