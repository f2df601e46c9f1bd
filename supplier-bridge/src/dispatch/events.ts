import { eventBase } from '../../../core/events.ts';
import type {
  AttemptFailed,
  MessageFailed,
  MessageRequested,
  MessageSubmitted,
} from '../../../core/message.ts';
import type { ProviderError, SendResult } from '../../../providers/provider.ts';

/** A provider call that did not take the message. */
export interface Refusal {
  provider: string;
  attempt: number;
  error: ProviderError;
  requestedAt: number;
  latencyMs: number;
}

/** Where a failure happened: the provider and attempt it is reported against. */
export interface FailedAt {
  provider?: string | undefined;
  attempt?: number;
  requestedAt?: number | undefined;
}

/** The failure a pass ends a message with. */
export interface Failure {
  status: MessageFailed['status'];
  errorClass: string;
  errorCode: string;
  reason: string;
}

/** The `message.failed` event for a pass that ends the message without a provider taking it. */
export function messageFailed(
  message: MessageRequested,
  failure: Failure,
  where: FailedAt,
  now: number,
): MessageFailed {
  const failed: MessageFailed = {
    ...eventBase(message.messageId, message.tenantId, now),
    type: 'message.failed',
    status: failure.status,
    attempt: where.attempt ?? 0,
    errorClass: failure.errorClass,
    errorCode: failure.errorCode,
    reason: failure.reason,
  };
  if (where.provider) failed.provider = where.provider;
  if (where.requestedAt !== undefined) failed.requestedAt = new Date(where.requestedAt).toISOString();
  if (message.country) failed.country = message.country;
  failed.class = message.class;
  return failed;
}

/** A provider's acceptance of a message. */
export interface Acceptance {
  provider: string;
  result: SendResult;
  latencyMs: number;
  attempt: number;
  requestedAt: number;
  /** Price of the route, when the provider reports none. */
  costPerMessage: number;
  /** Why this copy went out on top of an earlier one (crash recovery, overdue receipt). */
  failover: string | undefined;
}

/** The `message.submitted` event for a provider's acceptance. */
export function messageSubmitted(
  message: MessageRequested,
  accepted: Acceptance,
  now: number,
): MessageSubmitted {
  const { result, failover } = accepted;
  const submitted: MessageSubmitted = {
    ...eventBase(message.messageId, message.tenantId, now),
    type: 'message.submitted',
    provider: accepted.provider,
    providerMessageId: result.providerMessageId,
    attempt: accepted.attempt,
    segments: result.segments ?? message.segments,
    // A failover copy is on us: the customer is billed for one message.
    cost: failover ? 0 : (result.cost ?? accepted.costPerMessage),
    latencyMs: Math.round(accepted.latencyMs * 100) / 100,
  };
  if (message.country) submitted.country = message.country;
  if (failover) submitted.failover = failover;
  submitted.requestedAt = new Date(accepted.requestedAt).toISOString();
  submitted.class = message.class;
  return submitted;
}

/** The `attempt.failed` event for a call that did not take the message while the pass went on. */
export function attemptFailed(message: MessageRequested, refusal: Refusal, now: number): AttemptFailed {
  const event: AttemptFailed = {
    ...eventBase(message.messageId, message.tenantId, now),
    type: 'attempt.failed',
    provider: refusal.provider,
    attempt: refusal.attempt,
    errorClass: refusal.error.errorClass,
    errorCode: refusal.error.rawCode,
    reason: refusal.error.message,
    sent: refusal.error.sent === 'maybe' ? 'maybe' : 'no',
    requestedAt: new Date(refusal.requestedAt).toISOString(),
    latencyMs: refusal.latencyMs,
    class: message.class,
  };
  if (message.country) event.country = message.country;
  return event;
}
