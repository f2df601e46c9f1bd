import type { Encoding, EventType, MessageClass, MessageStatus } from '../message.ts';
import { STATUS_RANK } from '../status-machine.ts';
import type { ApiKeyRecord, MessageEventRecord, MessagePatch, MessageRecord } from './store.ts';

// The table shapes both SQL stores share: column lists, the rows a driver hands back, and the
// mapping between those rows and the records of store.ts. Upsert syntax stays with each dialect.

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
] as const;
/**
 * Overwrite columns where the larger value wins instead: a provider may bill more parts than the
 * gateway counted, and taking the larger keeps the result independent of event order.
 */
export const LARGEST_COLUMNS: ReadonlySet<string> = new Set(['segments']);
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
];

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
];

/** One row's positional placeholders for these columns: `(?, ?, …)`. */
export function placeholders(columns: readonly string[]): string {
  return `(${columns.map(() => '?').join(', ')})`;
}

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
    p.status,
    STATUS_RANK[p.status],
    p.queuedAt ?? null,
    p.submittedAt ?? null,
    p.finalAt ?? null,
    p.updatedAt,
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
  ];
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
  };
}
