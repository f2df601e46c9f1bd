import type { Encoding, EventType, MessageClass, MessageStatus } from '../message.ts';

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
 * `segments` the largest.
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
  cost?: number;
  errorCode?: string;
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

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  /** First characters of the key, shown to people so they can tell keys apart. */
  prefix: string;
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  hash: string;
  scopes: string[];
  name: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface WriteBatch {
  messages: readonly MessagePatch[];
  events: readonly MessageEventRecord[];
}

/**
 * Durable records: MySQL/TiDB in production, SQLite in embedded mode. Contract:
 * test/contract/store.contract.test.ts. Methods reject with PigeonError
 * `PIGEON_ERR_STORE_UNAVAILABLE` when the database cannot be reached.
 */
export interface Store {
  readonly kind: 'mysql' | 'sqlite';
  /** Applies pending migrations (ordered SQL files); safe to call from several processes. */
  migrate(): Promise<void>;
  /** Applies all patches and inserts all events in one transaction; idempotent under replay. */
  writeBatch(batch: WriteBatch): Promise<void>;
  getMessage(tenantId: string, id: string): Promise<MessageRecord | undefined>;
  /** The message's history, oldest first. */
  listEvents(tenantId: string, messageId: string): Promise<MessageEventRecord[]>;
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Inserts the key, or does nothing when a key with the same hash exists. */
  putApiKey(key: ApiKeyRecord): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
