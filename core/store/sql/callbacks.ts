import {
  type BacklogRow,
  CALLBACK_BACKLOG,
  type CallbackTargetRow,
  callbackTargetsQuery,
  claimCallbacksStatements,
  DEFER_CALLBACKS,
  DELIVERY_COLUMNS,
  type DeliveryRow,
  deliveryValues,
  dueCallbacksQuery,
  FINISHED_STATES,
  toCallbackDelivery,
  toCallbackTarget,
  toWebhookRecord,
  updateCallbackStatement,
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
