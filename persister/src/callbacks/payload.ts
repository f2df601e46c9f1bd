import type { Metadata } from '../../../core/client-reference.ts';
import { type MessageStatus, type PigeonEvent, statusOf } from '../../../core/message.ts';
import { isTerminal } from '../../../core/status-machine.ts';
import { RECEIPT_DEADLINE } from '../receipt-deadline.ts';

/**
 * The JSON body of a status callback. `id` is the status event's id: the same on every retry
 * and replay, so receivers dedupe by it. Callbacks may arrive out of order (outcomes and receipts
 * travel separately, and retries reorder them): receivers keep the status that ranks highest in
 * queued < submitted < unknown < expired < undelivered < rejected < skipped < failed < delivered.
 */
export interface StatusCallback {
  id: string;
  /** `message.<status>`, e.g. `message.delivered`. */
  type: string;
  messageId: string;
  status: MessageStatus;
  /** True when no later status will follow, except `delivered` after a late receipt. */
  final: boolean;
  occurredAt: string;
  provider?: string;
  providerMessageId?: string;
  /** Parts billed, when the provider accepted the message. */
  segments?: number;
  cost?: number;
  /** Why it failed: the gateway's or the provider's code. */
  errorCode?: string;
  /** The provider's own status in a delivery receipt, e.g. DELIVRD. */
  providerStatus?: string;
  /** The client's reference and labels, as its request gave them. */
  clientRef?: string;
  metadata?: Metadata;
}

/** What the stored request says of the client's reference (a CallbackTarget has it). */
export interface ClientReferenceOf {
  clientRef: string | null;
  metadata: Metadata | null;
}

/**
 * The callback with the client's reference from its message's request. Status events do not
 * carry it, so it is added where the request is known: when the outbox row is written, or when
 * the worker resolves a row written before the request was stored.
 */
export function withClientReference(callback: StatusCallback, reference: ClientReferenceOf): StatusCallback {
  return {
    ...callback,
    ...(reference.clientRef === null ? {} : { clientRef: reference.clientRef }),
    ...(reference.metadata === null ? {} : { metadata: reference.metadata }),
  };
}

/**
 * The callback a status event makes, or undefined when it is not a change customers hear about:
 * a request (its 202 answered already) and a failover's second submission (the message is
 * already submitted; its receipt will tell the outcome).
 */
export function callbackFor(event: PigeonEvent): StatusCallback | undefined {
  const base = { id: event.id, messageId: event.messageId, occurredAt: event.occurredAt };
  switch (event.type) {
    // A refused call the message went on from is not a status change the customer sees.
    // Held for quiet hours: still queued, as the customer was told.
    case 'message.requested':
    case 'attempt.failed':
    case 'message.held':
      return undefined;
    case 'message.submitted':
      if (event.failover !== undefined) return undefined;
      return {
        ...base,
        type: 'message.submitted',
        status: 'submitted',
        final: false,
        provider: event.provider,
        providerMessageId: event.providerMessageId,
        segments: event.segments,
        cost: event.cost,
      };
    case 'message.failed':
      return {
        ...base,
        type: `message.${event.status}`,
        status: event.status,
        // Past its receipt deadline nothing more is expected, though a late receipt may still come.
        final: isTerminal(event.status) || event.errorClass === RECEIPT_DEADLINE,
        ...(event.provider === undefined ? {} : { provider: event.provider }),
        errorCode: event.errorCode,
      };
    case 'receipt.received': {
      // As the store records it: a provider's `rejected` after acceptance is a failure.
      const status = statusOf(event);
      return {
        ...base,
        type: `message.${status}`,
        status,
        final: isTerminal(status),
        provider: event.provider,
        providerMessageId: event.providerMessageId,
        providerStatus: event.providerStatus,
        ...(status === 'delivered' ? {} : { errorCode: event.providerStatus }),
      };
    }
  }
}
