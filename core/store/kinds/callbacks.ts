import type { Metadata } from '../../client-reference.ts';

// Status callbacks: tenants' webhooks and the outbox of deliveries (`callback_deliveries`).

/** A tenant's webhook: where its messages' status changes go, and the key that signs them. */
export interface WebhookRecord {
  tenantId: string;
  /** Null: the tenant only uses per-message `statusCallback` URLs, signed with the same secret. */
  url: string | null;
  /** HMAC-SHA-256 key (`whsec_…`), kept in clear because every delivery is signed with it. */
  secret: string;
  createdAt: number;
  updatedAt: number;
}

/** Where one message's callbacks go, as far as the store knows yet. */
export interface CallbackTarget {
  messageId: string;
  tenantId: string;
  /** The message's own callback URL (from its request), null when it named none. */
  statusCallback: string | null;
  /** False while only outcomes or receipts were stored: the request, with its URL, is still to come. */
  requested: boolean;
  /** The client's reference and labels from the request, echoed in every callback. */
  clientRef: string | null;
  metadata: Metadata | null;
}

/** `pending` deliveries are retried until delivered or given up (`failed`); `skipped` had no destination. */
export type CallbackState = 'pending' | 'delivered' | 'failed' | 'skipped';

/** One status callback in the outbox (`callback_deliveries`): one row per status event. */
export interface CallbackDelivery {
  /** The status event's id: the same on every attempt and replay, so receivers dedupe by it. */
  id: string;
  /** '' until resolved, for a receipt that did not name its tenant. */
  tenantId: string;
  messageId: string;
  /** Null until the destination is known (the message's request not stored yet when enqueued). */
  url: string | null;
  /** The JSON body, exactly as sent and signed on every attempt. */
  payload: string;
  state: CallbackState;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  updatedAt: number;
  /** HTTP status of the last attempt, null when it got none (refused, timed out). */
  lastStatus: number | null;
  lastError: string | null;
}

/** A delivery not yet attempted, due at `now` (`createdAt` when the event is older than its row). */
export function pendingDelivery(
  fields: Pick<CallbackDelivery, 'id' | 'tenantId' | 'messageId' | 'url' | 'payload'>,
  now: number,
  createdAt = now,
): CallbackDelivery {
  return {
    ...fields,
    state: 'pending',
    attempts: 0,
    nextAttemptAt: now,
    createdAt,
    updatedAt: now,
    lastStatus: null,
    lastError: null,
  };
}

/** A worker's decision about a delivery it claimed. */
export interface CallbackChange {
  state: CallbackState;
  attempts: number;
  nextAttemptAt: number;
  updatedAt: number;
  /** Set once the destination is resolved. */
  tenantId?: string;
  url?: string;
  /** The body with what only the stored request tells (the client's reference), set on resolution. */
  payload?: string;
  lastStatus?: number | null;
  lastError?: string | null;
}

/** Pending deliveries and the creation time of the oldest, for the outbox metrics. */
export interface CallbackBacklog {
  pending: number;
  oldestCreatedAt: number | null;
}

export interface CallbackStore {
  getWebhook(tenantId: string): Promise<WebhookRecord | undefined>;
  /** Inserts or replaces the tenant's webhook. */
  putWebhook(webhook: WebhookRecord): Promise<void>;
  /** False when the tenant had none. */
  deleteWebhook(tenantId: string): Promise<boolean>;
  /** Where these messages' callbacks go; messages the store has no row for are left out. */
  callbackTargets(messageIds: readonly string[]): Promise<CallbackTarget[]>;
  /** Adds deliveries to the outbox in one transaction; an id already there is left as it is. */
  enqueueCallbacks(deliveries: readonly CallbackDelivery[]): Promise<void>;
  /** Ids and hosts of pending deliveries due at `now`, earliest due first, skipping the hosts named. */
  dueCallbacks(options: {
    now: number;
    limit: number;
    excludeHosts: readonly string[];
  }): Promise<Array<{ id: string; host: string }>>;
  /**
   * Leases those of `ids` still pending and due to the caller (token) until `leaseUntil`, and
   * returns them; a delivery another worker claimed first is left out.
   */
  claimCallbacks(
    ids: readonly string[],
    lease: { now: number; leaseUntil: number; token: string },
  ): Promise<CallbackDelivery[]>;
  /** Applies a decision about a claimed delivery and drops the lease; false when the lease was lost. */
  updateCallback(id: string, token: string, change: CallbackChange): Promise<boolean>;
  /** Moves a host's pending deliveries due before `until` to `until` (a paused host); returns how many. */
  deferCallbacks(host: string, until: number): Promise<number>;
  callbackBacklog(): Promise<CallbackBacklog>;
  /** Deletes up to `limit` finished deliveries created before `before`; returns how many. */
  purgeCallbacks(before: number, limit: number): Promise<number>;
}
