import type { ResealCounts } from './secret-sealer.ts';
import type { Encoding, EventType, MessageClass, MessageStatus } from '../message.ts';
import type { PageRecord, PageStatus, RosterRecord } from '../oncall.ts';

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

/**
 * An authenticator-app (TOTP) factor of one number of one tenant; at most one per number, a new
 * one replacing the old. Accepted in verification checks once verified (the user proved it works).
 */
export interface TotpFactorRecord {
  id: string;
  tenantId: string;
  /** E.164 number the factor belongs to. */
  recipient: string;
  /** The base32 secret sealed with AES-256-GCM under PIGEON_FACTOR_KEY (core/sealed-body.ts); never plain. */
  secret: string;
  status: 'unverified' | 'verified';
  createdAt: number;
  verifiedAt: number | null;
}

/**
 * A provider definition as stored. Its shape belongs to the supplier bridge
 * (providers/registry.ts `ProviderDefinition`); the store keeps it as JSON.
 */
export interface ProviderRecord {
  name: string;
  type: string;
  enabled: boolean;
  /** The definition as written, credentials included. */
  definition: Record<string, unknown>;
  updatedAt: number;
}

/** A routing rule as stored (routing/rules.ts `RouteRule`), kept as JSON. */
export interface RouteRecord {
  id: string;
  priority: number;
  enabled: boolean;
  definition: Record<string, unknown>;
  updatedAt: number;
}

/** What the store reads of a provider definition; the rest is stored as it is. */
export interface StorableProvider {
  name: string;
  type: string;
  /** Absent means enabled. */
  enabled?: boolean;
}

/** What the store reads of a routing rule; the rest is stored as it is. */
export interface StorableRoute {
  id: string;
  priority: number;
  enabled: boolean;
}

export interface PutOptions {
  /** Write only when nothing is stored under this name or id yet; for seeding from configuration. */
  ifAbsent?: boolean;
}

export interface WriteBatch {
  messages: readonly MessagePatch[];
  events: readonly MessageEventRecord[];
  attempts?: readonly AttemptRecord[];
}

// ---- Provider attempts and retention (persister) ----

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

// ---- Listings and usage (GET /v1/messages, GET /v1/usage) ----

/**
 * What a listing of one tenant's messages keeps; every field given narrows it. `since`/`until`
 * bound the creation time, which is the time part of the message id (a ULID made at acceptance),
 * so a time range is a range of the primary key.
 */
export interface MessageFilter {
  recipient?: string;
  status?: MessageStatus;
  messageClass?: MessageClass;
  provider?: string;
  /** Created at or after, ms since the epoch. */
  since?: number;
  /** Created before, ms since the epoch. */
  until?: number;
}

/** A page of a listing, newest first: at most `limit` messages whose id is below `before`. */
export interface MessagePage {
  before?: string;
  limit: number;
}

export const USAGE_GROUPS = ['day', 'provider', 'country'] as const;
export type UsageGroupBy = (typeof USAGE_GROUPS)[number];

/** A tenant's traffic in one group of a usage report. */
export interface UsageRow {
  /** `YYYY-MM-DD` (UTC) by day; the provider or country by those, null for messages without one. */
  key: string | null;
  messages: number;
  segments: number;
  /** The messages' billed cost, each message counted once. */
  cost: number;
}

// ---- Status callbacks ----

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

/** A worker's decision about a delivery it claimed. */
export interface CallbackChange {
  state: CallbackState;
  attempts: number;
  nextAttemptAt: number;
  updatedAt: number;
  /** Set once the destination is resolved. */
  tenantId?: string;
  url?: string;
  lastStatus?: number | null;
  lastError?: string | null;
}

/** A tenant's overrides of the gateway-wide OTP settings; null: the gateway's value. */
export interface TenantOtpSettings {
  /** ISO 3166-1 alpha-2 codes codes may go to; null: PIGEON_OTP_ALLOWED_COUNTRIES. */
  allowedCountries: string[] | null;
  /** Estimated spend per UTC day (0 = no cap); null: PIGEON_OTP_DAILY_SPEND_CAP. */
  dailySpendCap: number | null;
  updatedAt: number;
}

/** Pending deliveries and the creation time of the oldest, for the outbox metrics. */
export interface CallbackBacklog {
  pending: number;
  oldestCreatedAt: number | null;
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
  /** The message's provider attempts, by attempt number. */
  listAttempts(tenantId: string, messageId: string): Promise<AttemptRecord[]>;
  /**
   * Retention: deletes at most `limit` rows from each of `messages`, `message_events` and
   * `message_attempts` belonging to messages created before `before` (ms; message ids are ULIDs,
   * so this is a primary-key range). Call again until every count is below `limit`.
   */
  purgeMessages(before: number, limit: number): Promise<PurgeCounts>;
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Inserts the key, or does nothing when a key with the same hash exists. */
  putApiKey(key: ApiKeyRecord): Promise<void>;
  /** Stores a factor, replacing any other factor of the same tenant and number. */
  putTotpFactor(factor: TotpFactorRecord): Promise<void>;
  getTotpFactor(tenantId: string, id: string): Promise<TotpFactorRecord | undefined>;
  findTotpFactor(tenantId: string, recipient: string): Promise<TotpFactorRecord | undefined>;
  /** Marks the factor verified (keeping the first verification time); false when there is no such factor. */
  verifyTotpFactor(tenantId: string, id: string, at: number): Promise<boolean>;
  /** False when there was no such factor. */
  deleteTotpFactor(tenantId: string, id: string): Promise<boolean>;
  /** Every provider definition, by name. */
  listProviders(): Promise<ProviderRecord[]>;
  /** Inserts or replaces the definition; resolves false only when `ifAbsent` found one stored. */
  putProvider<T extends StorableProvider>(definition: T, options?: PutOptions): Promise<boolean>;
  /** Resolves false when there was no such provider. */
  deleteProvider(name: string): Promise<boolean>;
  /** Every routing rule, by priority then id. */
  listRoutes(): Promise<RouteRecord[]>;
  putRoute<T extends StorableRoute>(rule: T, options?: PutOptions): Promise<boolean>;
  deleteRoute(id: string): Promise<boolean>;
  /**
   * A value that changes whenever a provider or a route is written or deleted, cheap enough to poll
   * every second or two from every process. Compare for equality only.
   */
  routingVersion(): Promise<string>;
  /** One tenant's messages, newest first (by id), narrowed by the filter; never another tenant's. */
  listMessages(tenantId: string, filter: MessageFilter, page: MessagePage): Promise<MessageRecord[]>;
  /** A tenant's messages created in [since, until), summed per group; groups in no particular order. */
  usage(
    tenantId: string,
    range: { since: number; until: number },
    groupBy: UsageGroupBy,
  ): Promise<UsageRow[]>;
  getWebhook(tenantId: string): Promise<WebhookRecord | undefined>;
  /** Inserts or replaces the tenant's webhook. */
  putWebhook(webhook: WebhookRecord): Promise<void>;
  /** False when the tenant had none. */
  deleteWebhook(tenantId: string): Promise<boolean>;
  /**
   * Writes every provider definition and webhook secret again under the current secrets key:
   * after a rotation (the old key still readable as the previous one) or once a key is first set.
   */
  resealSecrets(): Promise<ResealCounts>;
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
  // ---- On-call rosters and pages (core/oncall.ts) ----
  /** A tenant's rosters, by name. */
  listRosters(tenantId: string): Promise<RosterRecord[]>;
  getRoster(tenantId: string, name: string): Promise<RosterRecord | undefined>;
  /** Inserts or replaces the roster. */
  putRoster(record: RosterRecord): Promise<void>;
  /** False when there was no such roster. */
  deleteRoster(tenantId: string, name: string): Promise<boolean>;
  insertPage(page: PageRecord): Promise<void>;
  getPage(tenantId: string, id: string): Promise<PageRecord | undefined>;
  /** An alert's pages (tenant and fingerprint) in one of `statuses`, oldest first. */
  findPages(tenantId: string, fingerprint: string, statuses: readonly PageStatus[]): Promise<PageRecord[]>;
  /**
   * Writes the page's status, level, deliveries, escalation, acknowledgement and resolution only
   * while the stored page still has the `expected` status and level: false when another process
   * moved it first (or there is no such page).
   */
  updatePage(page: PageRecord, expected: { status: PageStatus; level: number }): Promise<boolean>;
  /** Open pages whose next escalation is due at `now`, soonest first, any tenant. */
  duePages(now: number, limit: number): Promise<PageRecord[]>;
  // ---- Per-tenant OTP settings (api/src/verify/tenant-settings.ts) ----
  /** The tenant's overrides of the gateway-wide OTP settings; undefined when it has none stored. */
  getTenantOtpSettings(tenantId: string): Promise<TenantOtpSettings | undefined>;
  /** Inserts or replaces the tenant's overrides. */
  putTenantOtpSettings(tenantId: string, settings: TenantOtpSettings): Promise<void>;
  // ---- Alerting: rules, silences, incidents (alerting/rules.ts, incidents.ts) ----
  /** Alert rules written through the admin API, by id. */
  listAlertRules(): Promise<AlertRuleRecord[]>;
  /** Inserts or replaces the rule (its whole definition, `id` included). */
  putAlertRule(rule: { id: string } & Record<string, unknown>): Promise<void>;
  /** False when there was no such rule. */
  deleteAlertRule(id: string): Promise<boolean>;
  /** Silences ending after `activeAfter` (every one when absent), newest first. */
  listSilences(activeAfter?: number): Promise<SilenceRecord[]>;
  getSilence(id: string): Promise<SilenceRecord | undefined>;
  /** Inserts or replaces the silence (ending one early is a put with an earlier `endsAt`). */
  putSilence(silence: SilenceRecord): Promise<void>;
  /**
   * Inserts or updates incidents as the monitor sees them. An acknowledgement stored meanwhile
   * (by the API) is kept, and a resolved incident stays resolved, whatever the write says.
   */
  putIncidents(incidents: readonly IncidentRecord[]): Promise<void>;
  /** Incidents, newest first: open ones (pending, firing), resolved ones, or both. */
  listIncidents(filter: { open?: boolean; before?: string; limit: number }): Promise<IncidentRecord[]>;
  getIncident(id: string): Promise<IncidentRecord | undefined>;
  /**
   * Acknowledges an open incident named by id or SMS code, unless already acknowledged; returns
   * the incident the id or code names (by code: only an open one), acknowledged or not.
   */
  acknowledgeIncident(idOrCode: string, by: string, at: number): Promise<IncidentRecord | undefined>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** An alert rule as the admin API wrote it (alerting/rules.ts `AlertRule`), kept as JSON. */
export interface AlertRuleRecord {
  id: string;
  definition: Record<string, unknown>;
  updatedAt: number;
}

/** A silence: incidents whose labels (and `rule`, `severity`) match every matcher notify no one. */
export interface SilenceRecord {
  id: string;
  /** Label → value; '*' matches any value. */
  matchers: Record<string, string>;
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  createdAt: number;
}

/**
 * An incident of an alert rule (alerting/incidents.ts `Incident`): the columns the API lists
 * and acknowledges by, and the monitor's whole view of it as JSON in `detail`.
 */
export interface IncidentRecord {
  id: string;
  ruleId: string;
  /** Rule and series labels; at most one open incident has it. */
  fingerprint: string;
  state: 'pending' | 'firing' | 'resolved';
  severity: string;
  labels: Record<string, string>;
  startedAt: number;
  firedAt: number | null;
  resolvedAt: number | null;
  /** Short code on-call people reply with ("ACK 4821"); unique among open incidents. */
  ackCode: string;
  ackedAt: number | null;
  ackedBy: string | null;
  detail: Record<string, unknown>;
  updatedAt: number;
}
