import { callbackHost } from '../../callback-url.ts';
import {
  type BacklogRow,
  type CallbackTargetRow,
  DELIVERY_COLUMNS,
  type DeliveryRow,
  deliveryValues,
  toCallbackDelivery,
  toCallbackTarget,
  toWebhookRecord,
  truncateError,
  WEBHOOK_COLUMNS,
  type WebhookRow,
  webhookValues,
} from '../callback-rows.ts';
import type {
  CallbackBacklog,
  CallbackChange,
  CallbackDelivery,
  CallbackStore,
  CallbackTarget,
  WebhookRecord,
} from '../kinds/callbacks.ts';
import { insertInto } from '../rows.ts';
import type { SecretSealer } from '../secret-sealer.ts';
import { insertGroups, oneRowOnce, type SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** Rows per statement where a list of ids or deliveries can be long. */
const CHUNK = 500;

const FINISHED_STATES = ['delivered', 'failed', 'skipped'] as const;

/** Pending deliveries due now, earliest first, leaving out the hosts named. */
function dueCallbacksQuery(options: { now: number; limit: number; excludeHosts: readonly string[] }): {
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
function claimCallbacksStatements(
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
function updateCallbackStatement(
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
  if (change.payload !== undefined) {
    sets.push('payload = ?');
    params.push(change.payload);
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
const DEFER_CALLBACKS = `UPDATE callback_deliveries SET next_attempt_at = ?
WHERE host = ? AND state = 'pending' AND next_attempt_at < ? AND lease_token IS NULL`;

const CALLBACK_BACKLOG = `SELECT COUNT(*) AS pending, MIN(created_at) AS oldest
FROM callback_deliveries WHERE state = 'pending'`;

function callbackTargetsQuery(ids: readonly string[]): { sql: string; params: unknown[] } {
  return {
    sql: `SELECT id, tenant_id, status_callback, queued_at, client_ref, metadata FROM messages WHERE id IN (${ids.map(() => '?').join(', ')})`,
    params: [...ids],
  };
}

/** `tenant_webhooks` and the `callback_deliveries` outbox. */
export class SqlCallbackStore implements CallbackStore {
  private readonly upsertWebhook: string;
  private readonly insertDeliveries: (rows: number) => string;

  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
    private readonly secrets: SecretSealer,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.upsertWebhook = `${insertInto('tenant_webhooks', WEBHOOK_COLUMNS)}
${dialect.upsert(['tenant_id'], `url = ${v('url')}, secret = ${v('secret')}, updated_at = ${v('updated_at')}`)}`;
    this.insertDeliveries = oneRowOnce(
      (rows) =>
        `${insertInto('callback_deliveries', DELIVERY_COLUMNS, rows)} ${dialect.keepExisting('id', ['id'])}`,
    );
  }

  async getWebhook(tenantId: string): Promise<WebhookRecord | undefined> {
    const rows = await this.sql.query<WebhookRow>('SELECT * FROM tenant_webhooks WHERE tenant_id = ?', [
      tenantId,
    ]);
    return rows[0] && toWebhookRecord(rows[0], this.secrets);
  }

  async putWebhook(webhook: WebhookRecord): Promise<void> {
    await this.sql.execute(this.upsertWebhook, webhookValues(webhook, this.secrets));
  }

  async deleteWebhook(tenantId: string): Promise<boolean> {
    return (await this.sql.execute('DELETE FROM tenant_webhooks WHERE tenant_id = ?', [tenantId])) > 0;
  }

  async callbackTargets(messageIds: readonly string[]): Promise<CallbackTarget[]> {
    const targets: CallbackTarget[] = [];
    for (let i = 0; i < messageIds.length; i += CHUNK) {
      const query = callbackTargetsQuery(messageIds.slice(i, i + CHUNK));
      const rows = await this.sql.query<CallbackTargetRow>(query.sql, query.params);
      targets.push(...rows.map(toCallbackTarget));
    }
    return targets;
  }

  async enqueueCallbacks(deliveries: readonly CallbackDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.sql.transaction(
      insertGroups(this.dialect, deliveries, CHUNK).map((group) => ({
        sql: this.insertDeliveries(group.length),
        params: group.flatMap(deliveryValues),
      })),
    );
  }

  async dueCallbacks(options: {
    now: number;
    limit: number;
    excludeHosts: readonly string[];
  }): Promise<Array<{ id: string; host: string }>> {
    const query = dueCallbacksQuery(options);
    return this.sql.query<{ id: string; host: string }>(query.sql, query.params);
  }

  async claimCallbacks(
    ids: readonly string[],
    lease: { now: number; leaseUntil: number; token: string },
  ): Promise<CallbackDelivery[]> {
    if (ids.length === 0) return [];
    const { update, select } = claimCallbacksStatements(ids, lease);
    await this.sql.execute(update.sql, update.params);
    const rows = await this.sql.query<DeliveryRow>(select.sql, select.params);
    return rows.map(toCallbackDelivery);
  }

  async updateCallback(id: string, token: string, change: CallbackChange): Promise<boolean> {
    const statement = updateCallbackStatement(id, token, change);
    return (await this.sql.execute(statement.sql, statement.params)) > 0;
  }

  async deferCallbacks(host: string, until: number): Promise<number> {
    return this.sql.execute(DEFER_CALLBACKS, [until, host, until]);
  }

  async callbackBacklog(): Promise<CallbackBacklog> {
    const [row] = await this.sql.query<BacklogRow>(CALLBACK_BACKLOG, []);
    return {
      pending: Number(row?.pending ?? 0),
      oldestCreatedAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest),
    };
  }

  async purgeCallbacks(before: number, limit: number): Promise<number> {
    const states = FINISHED_STATES.map((state) => `'${state}'`).join(', ');
    return this.sql.execute(
      this.dialect.deleteLimited('callback_deliveries', `state IN (${states}) AND created_at < ?`),
      [before, limit],
    );
  }
}
