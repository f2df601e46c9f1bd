import { callbackHost } from '../callback-url.ts';
import { parseMetadataColumn } from '../client-reference.ts';
import type { SecretSealer } from './secret-sealer.ts';
import type { CallbackDelivery, CallbackState, CallbackTarget, WebhookRecord } from './kinds/callbacks.ts';

// The tables of status callbacks (`tenant_webhooks`, `callback_deliveries`, and the message's
// `status_callback` column) as both SQL stores see them.

export const WEBHOOK_COLUMNS: readonly string[] = ['tenant_id', 'url', 'secret', 'created_at', 'updated_at'];

export interface WebhookRow {
  tenant_id: string;
  url: string | null;
  secret: string;
  created_at: number | string;
  updated_at: number | string;
}

export function webhookValues(w: WebhookRecord, secrets: SecretSealer): unknown[] {
  return [w.tenantId, w.url, secrets.seal(w.secret), w.createdAt, w.updatedAt];
}

export function toWebhookRecord(row: WebhookRow, secrets: SecretSealer): WebhookRecord {
  return {
    tenantId: row.tenant_id,
    url: row.url,
    secret: secrets.open(row.secret, `the webhook secret of tenant ${row.tenant_id}`),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** The order of the values deliveryValues() returns. */
export const DELIVERY_COLUMNS: readonly string[] = [
  'id',
  'tenant_id',
  'message_id',
  'url',
  'host',
  'payload',
  'state',
  'attempts',
  'next_attempt_at',
  'lease_token',
  'created_at',
  'updated_at',
  'last_status',
  'last_error',
];

export interface DeliveryRow {
  id: string;
  tenant_id: string;
  message_id: string;
  url: string | null;
  host: string;
  payload: string;
  state: CallbackState;
  attempts: number | string;
  next_attempt_at: number | string;
  lease_token: string | null;
  created_at: number | string;
  updated_at: number | string;
  last_status: number | string | null;
  last_error: string | null;
}

export function deliveryValues(d: CallbackDelivery): unknown[] {
  return [
    d.id,
    d.tenantId,
    d.messageId,
    d.url,
    callbackHost(d.url),
    d.payload,
    d.state,
    d.attempts,
    d.nextAttemptAt,
    null,
    d.createdAt,
    d.updatedAt,
    d.lastStatus,
    d.lastError === null ? null : truncateError(d.lastError),
  ];
}

export function toCallbackDelivery(row: DeliveryRow): CallbackDelivery {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    messageId: row.message_id,
    url: row.url,
    payload: row.payload,
    state: row.state,
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    lastStatus: row.last_status === null ? null : Number(row.last_status),
    lastError: row.last_error,
  };
}

/** `last_error` is VARCHAR(255): an error text is for people, its start says what happened. */
export function truncateError(text: string): string {
  return text.length > 255 ? `${text.slice(0, 252)}...` : text;
}

export interface CallbackTargetRow {
  id: string;
  tenant_id: string | null;
  status_callback: string | null;
  queued_at: number | string | null;
  client_ref: string | null;
  metadata: string | null;
}

export interface BacklogRow {
  pending: number | string;
  oldest: number | string | null;
}

export function toCallbackTarget(row: CallbackTargetRow): CallbackTarget {
  return {
    messageId: row.id,
    tenantId: row.tenant_id ?? '',
    statusCallback: row.status_callback,
    requested: row.queued_at !== null,
    clientRef: row.client_ref,
    metadata: parseMetadataColumn(row.metadata),
  };
}
