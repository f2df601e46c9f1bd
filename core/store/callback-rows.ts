import { callbackHost } from '../callback-url.ts';
import type { SecretSealer } from './secret-sealer.ts';
import type {
  CallbackChange,
  CallbackDelivery,
  CallbackState,
  CallbackTarget,
  WebhookRecord,
} from './kinds/callbacks.ts';

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
}

export const FINISHED_STATES = ['delivered', 'failed', 'skipped'] as const;

/** Pending deliveries due now, earliest first, leaving out the hosts named. */
export function dueCallbacksQuery(options: { now: number; limit: number; excludeHosts: readonly string[] }): {
  sql: string;
  params: unknown[];
} {
  const exclude = options.excludeHosts.length
    ? ` AND host NOT IN (${options.excludeHosts.map(() => '?').join(', ')})`
    : '';
  return {
    sql: `SELECT id, host FROM callback_deliveries
WHERE state = 'pending' AND next_attempt_at <= ?${exclude}
ORDER BY next_attempt_at, id LIMIT ?`,
    params: [options.now, ...options.excludeHosts, options.limit],
  };
}

/**
 * Leases the deliveries among `ids` that are still pending and due: the conditions make two
 * workers racing for a row leave it to exactly one of them.
 */
export function claimCallbacksStatements(
  ids: readonly string[],
  lease: { now: number; leaseUntil: number; token: string },
): { update: { sql: string; params: unknown[] }; select: { sql: string; params: unknown[] } } {
  const list = ids.map(() => '?').join(', ');
  return {
    update: {
      sql: `UPDATE callback_deliveries SET lease_token = ?, next_attempt_at = ?
WHERE id IN (${list}) AND state = 'pending' AND next_attempt_at <= ?`,
      params: [lease.token, lease.leaseUntil, ...ids, lease.now],
    },
    select: {
      sql: `SELECT * FROM callback_deliveries WHERE id IN (${list}) AND lease_token = ? ORDER BY next_attempt_at, id`,
      params: [...ids, lease.token],
    },
  };
}

/** The UPDATE applying a worker's decision, only while it still holds the lease. */
export function updateCallbackStatement(
  id: string,
  token: string,
  change: CallbackChange,
): { sql: string; params: unknown[] } {
  const sets = ['state = ?', 'attempts = ?', 'next_attempt_at = ?', 'updated_at = ?', 'lease_token = NULL'];
  const params: unknown[] = [change.state, change.attempts, change.nextAttemptAt, change.updatedAt];
  if (change.tenantId !== undefined) {
    sets.push('tenant_id = ?');
    params.push(change.tenantId);
  }
  if (change.url !== undefined) {
    sets.push('url = ?', 'host = ?');
    params.push(change.url, callbackHost(change.url));
  }
  if (change.lastStatus !== undefined) {
    sets.push('last_status = ?');
    params.push(change.lastStatus);
  }
  if (change.lastError !== undefined) {
    sets.push('last_error = ?');
    params.push(change.lastError === null ? null : truncateError(change.lastError));
  }
  return {
    sql: `UPDATE callback_deliveries SET ${sets.join(', ')} WHERE id = ? AND lease_token = ?`,
    params: [...params, id, token],
  };
}

/** A leased row is its worker's until it updates it, so pausing a host moves only unleased ones. */
export const DEFER_CALLBACKS = `UPDATE callback_deliveries SET next_attempt_at = ?
WHERE host = ? AND state = 'pending' AND next_attempt_at < ? AND lease_token IS NULL`;

export const CALLBACK_BACKLOG = `SELECT COUNT(*) AS pending, MIN(created_at) AS oldest
FROM callback_deliveries WHERE state = 'pending'`;

export interface BacklogRow {
  pending: number | string;
  oldest: number | string | null;
}

export function callbackTargetsQuery(ids: readonly string[]): { sql: string; params: unknown[] } {
  return {
    sql: `SELECT id, tenant_id, status_callback, queued_at FROM messages WHERE id IN (${ids.map(() => '?').join(', ')})`,
    params: [...ids],
  };
}

export function toCallbackTarget(row: CallbackTargetRow): CallbackTarget {
  return {
    messageId: row.id,
    tenantId: row.tenant_id ?? '',
    statusCallback: row.status_callback,
    requested: row.queued_at !== null,
  };
}
