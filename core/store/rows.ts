import { metadataColumn, parseMetadataColumn } from '../client-reference.ts';
import type { Encoding, EventType, MessageClass, MessageStatus } from '../message.ts';
import { STATUS_RANK } from '../status-machine.ts';
import type { SecretSealer } from './secret-sealer.ts';
import type { SqlDialect } from './sql/dialect.ts';
import type { ApiKeyRecord } from './kinds/api-keys.ts';
import type { AttemptRecord, MessageEventRecord, MessagePatch, MessageRecord } from './kinds/messages.ts';
import type { ProviderRecord, RouteRecord, StorableProvider, StorableRoute } from './kinds/routing.ts';

// The table shapes both SQL stores share: column lists, the rows a driver hands back, and the
// mapping between those rows and the records of kinds/. The statements are in sql/.

/** Columns a patch overwrites when it carries a value (NULL in the insert means "not carried"). */
export const OVERWRITE_COLUMNS = [
  'tenant_id',
  'recipient',
  'sender',
  'message_class',
  'lane',
  'body',
  'segments',
  'encoding',
  'country',
  'batch_id',
  'provider',
  'provider_message_id',
  'cost',
  'error_code',
  'status_callback',
  'client_ref',
  'metadata',
  'campaign_id',
] as const;
/**
 * Overwrite columns where the larger value wins instead: a provider may bill more parts than the
 * gateway counted, and only one attempt of a message is billed (a failover copy reports cost 0),
 * so taking the larger keeps the result independent of event order.
 */
export const LARGEST_COLUMNS: ReadonlySet<string> = new Set(['segments', 'cost']);
/**
 * Overwrite columns with rules of their own (messageUpsertAssignments): the provider pair follows
 * the highest attempt, the error code follows the status.
 */
export const RULED_COLUMNS: ReadonlySet<string> = new Set(['provider', 'provider_message_id', 'error_code']);
/** Columns that keep the earliest time seen. */
export const EARLIEST_COLUMNS = ['queued_at', 'submitted_at', 'final_at'] as const;
/** The order of the values patchValues() returns. */
export const MESSAGE_COLUMNS: readonly string[] = [
  'id',
  ...OVERWRITE_COLUMNS,
  'status',
  'status_rank',
  ...EARLIEST_COLUMNS,
  'updated_at',
  'attempt',
];

/**
 * The assignments of the messages upsert, implementing MessagePatch's merge rules. MySQL evaluates
 * them left to right, each seeing the columns already assigned, so every rule reads only columns
 * assigned after it: the provider pair before `attempt`, `error_code` and `status` before
 * `status_rank`. (SQLite's right-hand sides all see the stored row; the order suits both.)
 */
export function messageUpsertAssignments(d: SqlDialect): string {
  const v = d.incoming;
  const larger = (c: string) => `${d.greatest}(COALESCE(${c}, ${v(c)}), COALESCE(${v(c)}, ${c}))`;
  // The least of the two COALESCEs keeps the earlier of two times, the only one when the other is
  // NULL, and NULL when both are.
  const earlier = (c: string) => `${d.least}(COALESCE(${c}, ${v(c)}), COALESCE(${v(c)}, ${c}))`;
  // A later attempt replaces the provider pair; receipts (no attempt) rank as attempt 0. Between
  // equal ranks the larger pair wins, so two receipts alone give the same row in either order.
  // provider_message_id is assigned first: the rule then reads the stored provider, and when
  // provider's own turn comes the new id only matters where both providers are equal anyway.
  const incomingRank = `COALESCE(${v('attempt')}, 0)`;
  const storedRank = 'COALESCE(attempt, 0)';
  const laterAttempt = `${v('provider')} IS NOT NULL AND (provider IS NULL OR ${incomingRank} > ${storedRank}
    OR (${incomingRank} = ${storedRank} AND (${v('provider')} > provider OR (${v('provider')} = provider
      AND COALESCE(${v('provider_message_id')}, '') > COALESCE(provider_message_id, '')))))`;
  const errorCode = `CASE
    WHEN ${v('status_rank')} > status_rank THEN ${v('error_code')}
    WHEN ${v('status_rank')} < status_rank OR ${v('error_code')} IS NULL THEN error_code
    WHEN error_code IS NULL OR ${v('error_code')} > error_code THEN ${v('error_code')}
    ELSE error_code END`;
  return [
    ...OVERWRITE_COLUMNS.filter((c) => !RULED_COLUMNS.has(c)).map(
      (c) => `  ${c} = ${LARGEST_COLUMNS.has(c) ? larger(c) : `COALESCE(${v(c)}, ${c})`}`,
    ),
    `  provider_message_id = CASE WHEN ${laterAttempt} THEN ${v('provider_message_id')} ELSE provider_message_id END`,
    `  provider = CASE WHEN ${laterAttempt} THEN ${v('provider')} ELSE provider END`,
    `  error_code = ${errorCode}`,
    `  status = CASE WHEN ${v('status_rank')} > status_rank THEN ${v('status')} ELSE status END`,
    `  status_rank = ${d.greatest}(status_rank, ${v('status_rank')})`,
    ...EARLIEST_COLUMNS.map((c) => `  ${c} = ${earlier(c)}`),
    `  updated_at = ${d.greatest}(updated_at, ${v('updated_at')})`,
    `  attempt = ${larger('attempt')}`,
  ].join(',\n');
}

/** The order of the values attemptValues() returns. */
export const ATTEMPT_COLUMNS: readonly string[] = [
  'message_id',
  'attempt',
  'tenant_id',
  'event_id',
  'provider',
  'provider_message_id',
  'outcome',
  'error_class',
  'error_code',
  'failover',
  'segments',
  'cost',
  'country',
  'requested_at',
  'responded_at',
];

/**
 * The assignments of the attempts upsert: a replay (same event id) changes nothing, and should two
 * events ever name one attempt, the larger event id wins whatever the order. `event_id` goes last
 * because MySQL's later assignments would otherwise compare against the new value.
 */
export function attemptUpsertAssignments(incoming: (column: string) => string): string {
  const newer = `${incoming('event_id')} > event_id`;
  return [
    ...ATTEMPT_COLUMNS.filter((c) => c !== 'message_id' && c !== 'attempt' && c !== 'event_id').map(
      (c) => `  ${c} = CASE WHEN ${newer} THEN ${incoming(c)} ELSE ${c} END`,
    ),
    `  event_id = CASE WHEN ${newer} THEN ${incoming('event_id')} ELSE event_id END`,
  ].join(',\n');
}

/** The order of the values eventValues() returns. */
export const EVENT_COLUMNS: readonly string[] = [
  'event_id',
  'message_id',
  'tenant_id',
  'type',
  'status',
  'provider',
  'provider_message_id',
  'detail',
  'occurred_at',
];

/** The order of the values apiKeyValues() returns. */
export const API_KEY_COLUMNS: readonly string[] = [
  'id',
  'tenant_id',
  'prefix',
  'hash',
  'scopes',
  'name',
  'created_at',
  'revoked_at',
  'expires_at',
  'hint',
];

/** The order of the values providerValues() returns. */
export const PROVIDER_COLUMNS: readonly string[] = ['name', 'type', 'definition', 'enabled', 'updated_at'];

/** The order of the values routeValues() returns. */
export const ROUTE_COLUMNS: readonly string[] = ['id', 'priority', 'definition', 'enabled', 'updated_at'];

/** One row's positional placeholders for these columns: `(?, ?, …)`. */
export function placeholders(columns: readonly string[]): string {
  return `(${columns.map(() => '?').join(', ')})`;
}

/** `INSERT INTO table (columns) VALUES (?, …)`, with `rows` rows of placeholders. */
export function insertInto(table: string, columns: readonly string[], rows = 1): string {
  const row = placeholders(columns);
  return `INSERT INTO ${table} (${columns.join(', ')})
VALUES ${Array.from({ length: rows }, () => row).join(', ')}`;
}

/**
 * One row keyed by `key`, written whole: inserted, or every other column replaced on a duplicate.
 * For per-tenant settings rows, where a PUT states the whole record.
 */
export function replaceRow(
  dialect: Pick<SqlDialect, 'incoming' | 'upsert'>,
  table: string,
  columns: readonly string[],
  key: readonly string[],
): string {
  const assignments = columns
    .filter((c) => !key.includes(c))
    .map((c) => `${c} = ${dialect.incoming(c)}`)
    .join(',\n');
  return `${insertInto(table, columns)} ${dialect.upsert(key, assignments)}`;
}

/** A nullable numeric column: MySQL hands DECIMAL and BIGINT back as strings. */
export const numberOrNull = (value: number | string | null): number | null =>
  value === null ? null : Number(value);

/** A patch's values in MESSAGE_COLUMNS order, NULL for every field it does not carry. */
export function patchValues(p: MessagePatch): unknown[] {
  return [
    p.id,
    p.tenantId ?? null,
    p.recipient ?? null,
    p.sender ?? null,
    p.messageClass ?? null,
    p.lane ?? null,
    p.body ?? null,
    p.segments ?? null,
    p.encoding ?? null,
    p.country ?? null,
    p.batchId ?? null,
    p.provider ?? null,
    p.providerMessageId ?? null,
    p.cost ?? null,
    p.errorCode ?? null,
    p.statusCallback ?? null,
    p.clientRef ?? null,
    metadataColumn(p.metadata),
    p.campaignId ?? null,
    p.status,
    STATUS_RANK[p.status],
    p.queuedAt ?? null,
    p.submittedAt ?? null,
    p.finalAt ?? null,
    p.updatedAt,
    p.attempt ?? null,
  ];
}

/** Attempts in key order, so concurrent writers take their row locks in the same order. */
export function sortAttempts(attempts: readonly AttemptRecord[]): AttemptRecord[] {
  return [...attempts].sort((a, b) =>
    a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : a.attempt - b.attempt,
  );
}

/** An attempt's values in ATTEMPT_COLUMNS order. */
export function attemptValues(a: AttemptRecord): unknown[] {
  return [
    a.messageId,
    a.attempt,
    a.tenantId,
    a.eventId,
    a.provider,
    a.providerMessageId,
    a.outcome,
    a.errorClass,
    a.errorCode,
    a.failover,
    a.segments,
    a.cost,
    a.country,
    a.requestedAt,
    a.respondedAt,
  ];
}

/** An event's values in EVENT_COLUMNS order. */
export function eventValues(e: MessageEventRecord): unknown[] {
  return [
    e.eventId,
    e.messageId,
    e.tenantId,
    e.type,
    e.status,
    e.provider,
    e.providerMessageId,
    e.detail,
    e.occurredAt,
  ];
}

/** A key's values in API_KEY_COLUMNS order. */
export function apiKeyValues(key: ApiKeyRecord): unknown[] {
  return [
    key.id,
    key.tenantId,
    key.prefix,
    key.hash,
    JSON.stringify(key.scopes),
    key.name,
    key.createdAt,
    key.revokedAt,
    key.expiresAt,
    key.hint,
  ];
}

/** A provider definition's values in PROVIDER_COLUMNS order. */
export function providerValues(
  definition: StorableProvider,
  updatedAt: number,
  secrets: SecretSealer,
): unknown[] {
  return [
    definition.name,
    definition.type,
    secrets.seal(JSON.stringify(definition)),
    definition.enabled === false ? 0 : 1,
    updatedAt,
  ];
}

/** A routing rule's values in ROUTE_COLUMNS order. */
export function routeValues(rule: StorableRoute, updatedAt: number): unknown[] {
  return [rule.id, rule.priority, JSON.stringify(rule), rule.enabled ? 1 : 0, updatedAt];
}

// Numeric columns are `number | string` so the rows of both drivers fit: SQLite hands back
// numbers, while the MySQL driver may hand back some numeric types as strings. num() evens that out.

export interface MessageRow {
  id: string;
  tenant_id: string | null;
  recipient: string | null;
  sender: string | null;
  message_class: MessageClass | null;
  lane: string | null;
  body: string | null;
  segments: number | null;
  encoding: Encoding | null;
  country: string | null;
  batch_id: string | null;
  client_ref: string | null;
  metadata: string | null;
  campaign_id?: string | null;
  status: MessageStatus;
  provider: string | null;
  provider_message_id: string | null;
  cost: number | string | null;
  error_code: string | null;
  queued_at: number | string | null;
  submitted_at: number | string | null;
  final_at: number | string | null;
  updated_at: number | string;
}

export interface AttemptRow {
  message_id: string;
  attempt: number | string;
  tenant_id: string;
  event_id: string;
  provider: string;
  provider_message_id: string | null;
  outcome: AttemptRecord['outcome'];
  error_class: string | null;
  error_code: string | null;
  failover: string | null;
  segments: number | string | null;
  cost: number | string | null;
  country: string | null;
  requested_at: number | string | null;
  responded_at: number | string;
}

export interface EventRow {
  event_id: string;
  message_id: string;
  tenant_id: string;
  type: EventType;
  status: MessageStatus;
  provider: string | null;
  provider_message_id: string | null;
  detail: string | null;
  occurred_at: number | string;
}

export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  prefix: string;
  hash: string;
  scopes: string;
  name: string;
  created_at: number | string;
  revoked_at: number | string | null;
  expires_at: number | string | null;
  hint: string | null;
}

export interface ProviderRow {
  name: string;
  type: string;
  definition: string;
  enabled: number | string;
  updated_at: number | string;
}

export interface RouteRow {
  id: string;
  priority: number | string;
  definition: string;
  enabled: number | string;
  updated_at: number | string;
}

/** The counts and sums routingVersion() combines; sums are text so no precision is lost. */
export interface RoutingVersionRow {
  provider_count: number | string;
  provider_sum: number | string;
  route_count: number | string;
  route_sum: number | string;
}

/** A numeric column as a number, NULL kept as null. */
export function num(value: number | string): number;
export function num(value: number | string | null): number | null;
export function num(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}

// The defaults for columns a receipt-created row has not been given yet (see 001_messages.sql).
export function toMessageRecord(row: MessageRow): MessageRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id ?? '',
    recipient: row.recipient ?? '',
    sender: row.sender,
    messageClass: row.message_class ?? 'transactional',
    lane: row.lane ?? 'normal',
    body: row.body,
    segments: row.segments ?? 1,
    encoding: row.encoding ?? 'GSM-7',
    country: row.country,
    batchId: row.batch_id,
    clientRef: row.client_ref,
    metadata: parseMetadataColumn(row.metadata),
    campaignId: row.campaign_id ?? null,
    status: row.status,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    cost: num(row.cost),
    errorCode: row.error_code,
    queuedAt: num(row.queued_at),
    submittedAt: num(row.submitted_at),
    finalAt: num(row.final_at),
    updatedAt: num(row.updated_at),
  };
}

export function toEventRecord(row: EventRow): MessageEventRecord {
  return {
    eventId: row.event_id,
    messageId: row.message_id,
    tenantId: row.tenant_id,
    type: row.type,
    status: row.status,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    detail: row.detail,
    occurredAt: num(row.occurred_at),
  };
}

export function toAttemptRecord(row: AttemptRow): AttemptRecord {
  return {
    messageId: row.message_id,
    attempt: num(row.attempt),
    tenantId: row.tenant_id,
    eventId: row.event_id,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    outcome: row.outcome,
    errorClass: row.error_class,
    errorCode: row.error_code,
    failover: row.failover,
    segments: num(row.segments),
    cost: num(row.cost),
    country: row.country,
    requestedAt: num(row.requested_at),
    respondedAt: num(row.responded_at),
  };
}

export function toApiKeyRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    prefix: row.prefix,
    hash: row.hash,
    scopes: JSON.parse(row.scopes) as string[],
    name: row.name,
    createdAt: num(row.created_at),
    revokedAt: num(row.revoked_at),
    expiresAt: num(row.expires_at),
    hint: row.hint,
  };
}

export function toProviderRecord(row: ProviderRow, secrets: SecretSealer): ProviderRecord {
  return {
    name: row.name,
    type: row.type,
    enabled: num(row.enabled) !== 0,
    definition: JSON.parse(secrets.open(row.definition, `provider ${row.name}`)) as Record<string, unknown>,
    updatedAt: num(row.updated_at),
  };
}

export function toRouteRecord(row: RouteRow): RouteRecord {
  return {
    id: row.id,
    priority: num(row.priority),
    enabled: num(row.enabled) !== 0,
    definition: JSON.parse(row.definition) as Record<string, unknown>,
    updatedAt: num(row.updated_at),
  };
}

/**
 * Count and sum of updated_at per table. Every write moves a row's updated_at strictly forward
 * (the upserts take the larger of now and the stored value + 1), so a write always changes the
 * sum even when two writes land in the same millisecond or on a machine whose clock is behind; a
 * delete changes the count. (A max(updated_at) alone would miss both.)
 */
export function routingVersionOf(row: RoutingVersionRow): string {
  return `p${String(row.provider_count)}.${String(row.provider_sum)}-r${String(row.route_count)}.${String(row.route_sum)}`;
}
