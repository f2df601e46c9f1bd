import { type Static, Type } from 'typebox';

/** Schema version of every event on the bus; bump on an incompatible change and keep readers tolerant. */
export const SCHEMA_VERSION = 1;

export const MESSAGE_CLASSES = ['transactional', 'marketing', 'otp', 'alert'] as const;
export type MessageClass = (typeof MESSAGE_CLASSES)[number];

export const LANES = ['high', 'normal', 'bulk'] as const;
export type Lane = (typeof LANES)[number];

/** OTP codes and on-call pages ride the high lane; batch submissions ride bulk. */
export function laneFor(messageClass: MessageClass, fromBatch = false): Lane {
  if (messageClass === 'otp' || messageClass === 'alert') return 'high';
  if (fromBatch || messageClass === 'marketing') return 'bulk';
  return 'normal';
}

export const MESSAGE_STATUSES = [
  'queued',
  'submitted',
  'delivered',
  'undelivered',
  'failed',
  'expired',
  'rejected',
  'unknown',
  'skipped',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const Encoding = Type.Enum(['GSM-7', 'UCS-2']);
export type Encoding = Static<typeof Encoding>;

const EventBase = {
  schemaVersion: Type.Integer({ minimum: 1 }),
  id: Type.String({ description: 'Unique event id (ULID); replays of the same event carry the same id' }),
  occurredAt: Type.String({ format: 'date-time' }),
  messageId: Type.String(),
  tenantId: Type.String(),
};

export const MessageRequested = Type.Object({
  ...EventBase,
  type: Type.Literal('message.requested'),
  to: Type.String(),
  from: Type.Optional(Type.String()),
  body: Type.String(),
  class: Type.Enum(MESSAGE_CLASSES),
  lane: Type.Enum(LANES),
  segments: Type.Integer({ minimum: 1 }),
  encoding: Encoding,
  country: Type.Optional(Type.String()),
  expiresAt: Type.String({ format: 'date-time' }),
  /** The API answered 503 to any publish not acknowledged by this instant; later appends are never sent. */
  acceptDeadline: Type.String({ format: 'date-time' }),
  batchId: Type.Optional(Type.String()),
  /**
   * Only this provider may carry the message, with no failover and whatever its health: set by
   * the monitor's canaries (monitor/src/canary.ts), never by a client.
   */
  provider: Type.Optional(Type.String({ minLength: 1 })),
  /** The customer's URL for this message's status callbacks; the tenant's webhook when absent. */
  statusCallback: Type.Optional(Type.String()),
  /** The client's own reference (core/client-reference.ts), echoed in status callbacks. */
  clientRef: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** The client's labels, string to string, echoed in status callbacks. */
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
  /** The campaign that sent it (its runner sets this; a client cannot), stored for its progress. */
  campaignId: Type.Optional(Type.String({ minLength: 1, maxLength: 26 })),
});
export type MessageRequested = Static<typeof MessageRequested>;

export const MessageSubmitted = Type.Object({
  ...EventBase,
  type: Type.Literal('message.submitted'),
  provider: Type.String(),
  providerMessageId: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  segments: Type.Integer({ minimum: 1 }),
  cost: Type.Number(),
  latencyMs: Type.Number(),
  country: Type.Optional(Type.String()),
  /** Why this is not the first submission: `receipt_timeout` or `crash_recovery` (billed once). */
  failover: Type.Optional(Type.String()),
  /** When the provider call started; it answered `latencyMs` later. The attempt record keeps both. */
  requestedAt: Type.Optional(Type.String({ format: 'date-time' })),
  /** The message's class, so the monitor can tell OTP health from bulk health without the request. */
  class: Type.Optional(Type.Enum(MESSAGE_CLASSES)),
});
export type MessageSubmitted = Static<typeof MessageSubmitted>;

export const MessageFailed = Type.Object({
  ...EventBase,
  type: Type.Literal('message.failed'),
  /**
   * `unknown`: the provider may have taken it (ambiguous) and it is not sent again; a receipt may
   * still come. `skipped`: deliberately not sent (errorClass names why, e.g. `opted_out`).
   */
  status: Type.Enum(['failed', 'expired', 'rejected', 'unknown', 'skipped']),
  provider: Type.Optional(Type.String()),
  attempt: Type.Integer({ minimum: 0 }),
  errorClass: Type.String(),
  errorCode: Type.String(),
  reason: Type.String(),
  country: Type.Optional(Type.String()),
  /** When the call to `provider` that ended this way started (absent when no provider was called). */
  requestedAt: Type.Optional(Type.String({ format: 'date-time' })),
  class: Type.Optional(Type.Enum(MESSAGE_CLASSES)),
});
export type MessageFailed = Static<typeof MessageFailed>;

/**
 * One provider call that did not take the message while the message went on: the bridge failed
 * over to the next provider, or scheduled a later round. The pass's own outcome (submitted,
 * failed) reports its last call; these report the others, so every call has an attempt record and
 * the monitor sees a provider refusing traffic even when another one carried it.
 */
export const AttemptFailed = Type.Object({
  ...EventBase,
  type: Type.Literal('attempt.failed'),
  provider: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  errorClass: Type.String(),
  errorCode: Type.String(),
  reason: Type.String(),
  /** `maybe`: the call timed out after the request was written; an urgent message failed over anyway. */
  sent: Type.Enum(['no', 'maybe']),
  country: Type.Optional(Type.String()),
  requestedAt: Type.String({ format: 'date-time' }),
  latencyMs: Type.Number(),
  class: Type.Optional(Type.Enum(MESSAGE_CLASSES)),
});
export type AttemptFailed = Static<typeof AttemptFailed>;

/**
 * A marketing message held for its recipient's quiet hours (core/quiet-hours.ts): it stays queued
 * and goes to the providers at `notBefore`. Reported once per hold, not per delay-topic hop.
 */
export const MessageHeld = Type.Object({
  ...EventBase,
  type: Type.Literal('message.held'),
  reason: Type.Literal('quiet_hours'),
  notBefore: Type.String({ format: 'date-time' }),
  /** The recipient's time zone the window was judged in. */
  timeZone: Type.String(),
  class: Type.Optional(Type.Enum(MESSAGE_CLASSES)),
});
export type MessageHeld = Static<typeof MessageHeld>;

export const RECEIPT_STATUSES = ['delivered', 'undelivered', 'expired', 'rejected', 'unknown'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

export const ReceiptReceived = Type.Object({
  ...EventBase,
  type: Type.Literal('receipt.received'),
  provider: Type.String(),
  providerMessageId: Type.String(),
  status: Type.Enum(RECEIPT_STATUSES),
  providerStatus: Type.String({ description: "The provider's raw status or error code" }),
  doneAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type ReceiptReceived = Static<typeof ReceiptReceived>;

export type OutcomeEvent = MessageSubmitted | MessageFailed;

/** Of the events on `sms.outcomes`, the ones that end a pass (not the attempt reports beside them). */
export function isOutcome(event: { type: string }): event is OutcomeEvent {
  return event.type === 'message.submitted' || event.type === 'message.failed';
}
export type PigeonEvent =
  MessageRequested | MessageSubmitted | MessageFailed | AttemptFailed | MessageHeld | ReceiptReceived;
export type EventType = PigeonEvent['type'];

/** Status a given event moves a message to. */
export function statusOf(event: PigeonEvent): MessageStatus {
  switch (event.type) {
    case 'message.requested':
      return 'queued';
    case 'message.submitted':
      return 'submitted';
    case 'message.failed':
      return event.status;
    // The message goes on: the lowest rank, which never moves a stored status.
    case 'attempt.failed':
    case 'message.held':
      return 'queued';
    case 'receipt.received':
      return event.status === 'rejected' ? 'failed' : event.status;
  }
}
