import type { Metadata } from '../../client-reference.ts';
import type { Encoding, EventType, MessageClass, MessageStatus } from '../../message.ts';

// Messages as the persister writes them (`messages`, `message_events`, `message_attempts`) and
// the API reads them back one by one.

/** One row of `messages`: the current state of a message. Times are ms since the epoch (UTC). */
export interface MessageRecord {
  id: string;
  tenantId: string;
  recipient: string;
  sender: string | null;
  messageClass: MessageClass;
  lane: string;
  body: string | null;
  segments: number;
  encoding: Encoding;
  country: string | null;
  batchId: string | null;
  /** The client's own reference and labels, from the request (core/client-reference.ts). */
  clientRef: string | null;
  metadata: Metadata | null;
  /** The campaign that sent it (core/store/kinds/campaigns.ts); null outside a campaign. */
  campaignId: string | null;
  status: MessageStatus;
  provider: string | null;
  providerMessageId: string | null;
  cost: number | null;
  errorCode: string | null;
  queuedAt: number | null;
  submittedAt: number | null;
  finalAt: number | null;
  updatedAt: number;
}

/**
 * A change to one message, folded from one or more events. Undefined fields leave the stored
 * value alone; `status` only replaces the stored status when its rank is higher
 * (core/status-machine.ts); `queuedAt`/`submittedAt`/`finalAt` keep the earliest value seen and
 * `segments` and `cost` the largest (only one attempt of a message is billed, the others cost 0).
 * `errorCode` belongs to the status: a patch of higher rank replaces it (also with nothing: a
 * delivered message has no error code), one of equal rank keeps the larger code, one of lower
 * rank leaves it. `provider` and `providerMessageId` belong to the highest `attempt` seen (a patch
 * without one, a receipt, ranks as attempt 0); between equal attempts the larger pair wins.
 * Every rule is commutative, so the row does not depend on the order patches arrive in.
 * A patch for a message that does not exist yet creates it (a receipt may arrive before the
 * request), and the missing fields are filled when their event arrives.
 */
export interface MessagePatch {
  id: string;
  status: MessageStatus;
  updatedAt: number;
  tenantId?: string;
  recipient?: string;
  sender?: string | null;
  messageClass?: MessageClass;
  lane?: string;
  body?: string | null;
  segments?: number;
  encoding?: Encoding;
  country?: string | null;
  batchId?: string | null;
  provider?: string;
  providerMessageId?: string;
  /** The provider attempt `provider` and `providerMessageId` come from. */
  attempt?: number;
  cost?: number;
  errorCode?: string;
  /** The message's own status callback URL (messages.status_callback), read by callbackTargets(). */
  statusCallback?: string;
  clientRef?: string;
  metadata?: Metadata;
  campaignId?: string;
  queuedAt?: number;
  submittedAt?: number;
  finalAt?: number;
}

/** One row of `message_events`, the append-only history; `eventId` is unique so replays add nothing. */
export interface MessageEventRecord {
  eventId: string;
  messageId: string;
  tenantId: string;
  type: EventType;
  status: MessageStatus;
  provider: string | null;
  providerMessageId: string | null;
  /** JSON text with event-specific detail (error code, cost, latency…); never an OTP code. */
  detail: string | null;
  occurredAt: number;
}

export interface WriteBatch {
  messages: readonly MessagePatch[];
  events: readonly MessageEventRecord[];
  attempts?: readonly AttemptRecord[];
}

/**
 * One row of `message_attempts`: one call to a provider, as the bridge reported it in a
 * `message.submitted` or a `message.failed` naming a provider. Keyed by (messageId, attempt); if two
 * events ever named the same attempt, the one with the larger event id wins, whatever the order.
 */
export interface AttemptRecord {
  messageId: string;
  attempt: number;
  tenantId: string;
  /** The outcome event that reported the attempt. */
  eventId: string;
  provider: string;
  providerMessageId: string | null;
  /**
   * `submitted` when the provider took the message; `failed` when it refused (the message went on
   * to another call, or failed); `unknown` when it may have sent it; else the status the message
   * failed with.
   */
  outcome: 'submitted' | 'failed' | 'expired' | 'rejected' | 'unknown';
  /** The failure taxonomy (`permanent`, `ambiguous`, …); null for a submission. */
  errorClass: string | null;
  errorCode: string | null;
  /** Why a submission was a second copy (`receipt_timeout`, `crash_recovery`); it costs 0. */
  failover: string | null;
  segments: number | null;
  cost: number | null;
  country: string | null;
  /** When the call started; null when the bridge did not report it. */
  requestedAt: number | null;
  /** When the provider answered (or the call ended). */
  respondedAt: number;
}

/** Rows one purge round deleted, per table. */
export interface PurgeCounts {
  messages: number;
  events: number;
  attempts: number;
}

/** A `submitted` message past its receipt deadline, as the receipt sweep needs it. */
export interface OverdueReceipt {
  id: string;
  tenantId: string;
  messageClass: MessageClass;
  submittedAt: number;
  /** The attempt its provider pair came from; 0 when none was recorded. */
  attempt: number;
}

/** Where a page of overdue messages starts: after this (submittedAt, id), in that order. */
export interface OverdueCursor {
  submittedAt: number;
  id: string;
}

export interface MessageStore {
  /** Applies all patches and inserts all events in one transaction; idempotent under replay. */
  writeBatch(batch: WriteBatch): Promise<void>;
  getMessage(tenantId: string, id: string): Promise<MessageRecord | undefined>;
  /** The message's history, oldest first. */
  listEvents(tenantId: string, messageId: string): Promise<MessageEventRecord[]>;
  /** The message's provider attempts, by attempt number. */
  listAttempts(tenantId: string, messageId: string): Promise<AttemptRecord[]>;
  /**
   * Retention: deletes at most `limit` rows from each of `messages`, `message_events` and
   * `message_attempts` belonging to messages created before `before` (ms; message ids are ULIDs,
   * so this is a primary-key range). Call again until every count is below `limit`.
   */
  purgeMessages(before: number, limit: number): Promise<PurgeCounts>;
  /**
   * Receipt deadline: at most `limit` messages of `messageClass` still `submitted` whose
   * submission was before `submittedBefore` (ms), oldest first, after `cursor` when given. A range
   * of idx_messages_receipt_deadline, so its cost does not grow with the messages that are fine.
   */
  overdueReceipts(query: {
    messageClass: MessageClass;
    submittedBefore: number;
    limit: number;
    cursor?: OverdueCursor | undefined;
  }): Promise<OverdueReceipt[]>;
}
