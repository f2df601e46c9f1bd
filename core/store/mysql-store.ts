import mysql from 'mysql2/promise';
import { PigeonError } from '../errors.ts';
import { idFloor } from '../ids.ts';
import { type MigrationConnection, runMigrations } from './migrator.ts';
import {
  ACK_INCIDENT,
  ALERT_RULE_COLUMNS,
  type AlertRuleRow,
  alertRuleValues,
  FIND_INCIDENT,
  INCIDENT_COLUMNS,
  type IncidentRow,
  incidentValues,
  listIncidentsSql,
  SILENCE_COLUMNS,
  type SilenceRow,
  silenceValues,
  toAlertRuleRecord,
  toIncidentRecord,
  toSilenceRecord,
} from './alert-rows.ts';
import type { PageRecord, PageStatus, RosterRecord } from '../oncall.ts';
import {
  DUE_PAGES,
  findPagesSql,
  INSERT_PAGE,
  type PageRow,
  ROSTER_COLUMNS,
  type RosterRow,
  rosterValues,
  pageValues,
  toPageRecord,
  toRosterRecord,
  UPDATE_PAGE,
  updatePageValues,
} from './oncall-rows.ts';
import {
  API_KEY_COLUMNS,
  type ApiKeyRow,
  apiKeyValues,
  ATTEMPT_COLUMNS,
  type AttemptRow,
  attemptUpsertAssignments,
  attemptValues,
  messageUpsertAssignments,
  sortAttempts,
  toAttemptRecord,
  EVENT_COLUMNS,
  type EventRow,
  eventValues,
  MESSAGE_COLUMNS,
  type MessageRow,
  patchValues,
  placeholders,
  PROVIDER_COLUMNS,
  type ProviderRow,
  providerValues,
  ROUTE_COLUMNS,
  type RouteRow,
  routeValues,
  routingVersionOf,
  type RoutingVersionRow,
  toApiKeyRecord,
  toEventRecord,
  toMessageRecord,
  toProviderRecord,
  toRouteRecord,
} from './rows.ts';
import type {
  AlertRuleRecord,
  IncidentRecord,
  SilenceRecord,
  ApiKeyRecord,
  AttemptRecord,
  PurgeCounts,
  CallbackBacklog,
  CallbackChange,
  CallbackDelivery,
  CallbackTarget,
  MessageFilter,
  MessagePage,
  UsageGroupBy,
  UsageRow,
  WebhookRecord,
  MessageEventRecord,
  MessageRecord,
  ProviderRecord,
  PutOptions,
  RouteRecord,
  Store,
  StorableProvider,
  StorableRoute,
  TenantOtpSettings,
  TotpFactorRecord,
  WriteBatch,
} from './store.ts';
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
} from './callback-rows.ts';
import { listingWhere, toUsageRow, usageQuery, type UsageSqlRow } from './report-rows.ts';
import {
  SELECT_TENANT_OTP_SETTINGS,
  type TenantOtpSettingsRow,
  tenantOtpSettingsValues,
  toTenantOtpSettings,
} from './otp-settings-rows.ts';
import {
  TOTP_FACTOR_COLUMNS,
  type TotpFactorRow,
  toTotpFactorRecord,
  totpFactorValues,
} from './factor-rows.ts';
import { PLAIN_SECRETS, type ResealCounts, type SecretSealer } from './secret-sealer.ts';

export interface MysqlStoreOptions {
  connectionLimit?: number;
  /** How long to wait for a server to accept a connection; small so a dead database fails fast. */
  connectTimeoutMs?: number;
  /** How long ping() waits for an answer before reporting the database down. */
  pingTimeoutMs?: number;
  /** Seals provider credentials and webhook secrets at rest; without it they are stored as given. */
  secrets?: SecretSealer;
}

const MESSAGE_ROW = placeholders(MESSAGE_COLUMNS);

// VALUES(col) rather than the `AS new` row alias: MariaDB and TiDB only know the former. MySQL
// evaluates these assignments left to right and a later one sees the columns already assigned;
// messageUpsertAssignments() orders them for that. LEAST over the two COALESCEs keeps the earlier
// of two times, the only one when the other is NULL, NULL for neither.
const ON_DUPLICATE = `ON DUPLICATE KEY UPDATE
${messageUpsertAssignments({ incoming: (c) => `VALUES(${c})`, greatest: 'GREATEST', least: 'LEAST' })}`;

const EVENT_ROW = placeholders(EVENT_COLUMNS);

const ATTEMPT_ROW = placeholders(ATTEMPT_COLUMNS);
const ATTEMPT_ON_DUPLICATE = `ON DUPLICATE KEY UPDATE
${attemptUpsertAssignments((c) => `VALUES(${c})`)}`;

// updated_at only moves forward, even within one millisecond or from a machine whose clock is
// behind: routingVersion() depends on it. ifAbsent is a plain INSERT whose duplicate-key error
// means "already there": mysql2 asks for found rows, so a no-op ON DUPLICATE KEY UPDATE would
// report a row affected either way, and INSERT IGNORE would also swallow data errors.
const UPSERT_PROVIDER = `INSERT INTO providers (${PROVIDER_COLUMNS.join(', ')})
VALUES ${placeholders(PROVIDER_COLUMNS)}
ON DUPLICATE KEY UPDATE
  type = VALUES(type),
  definition = VALUES(definition),
  enabled = VALUES(enabled),
  updated_at = GREATEST(VALUES(updated_at), updated_at + 1)`;
const INSERT_PROVIDER = `INSERT INTO providers (${PROVIDER_COLUMNS.join(', ')})
VALUES ${placeholders(PROVIDER_COLUMNS)}`;

const UPSERT_ROUTE = `INSERT INTO routes (${ROUTE_COLUMNS.join(', ')})
VALUES ${placeholders(ROUTE_COLUMNS)}
ON DUPLICATE KEY UPDATE
  priority = VALUES(priority),
  definition = VALUES(definition),
  enabled = VALUES(enabled),
  updated_at = GREATEST(VALUES(updated_at), updated_at + 1)`;
const INSERT_ROUTE = `INSERT INTO routes (${ROUTE_COLUMNS.join(', ')})
VALUES ${placeholders(ROUTE_COLUMNS)}`;

const ROUTING_VERSION = `SELECT
  (SELECT COUNT(*) FROM providers) AS provider_count,
  (SELECT CAST(COALESCE(SUM(updated_at), 0) AS CHAR) FROM providers) AS provider_sum,
  (SELECT COUNT(*) FROM routes) AS route_count,
  (SELECT CAST(COALESCE(SUM(updated_at), 0) AS CHAR) FROM routes) AS route_sum`;

/**
 * Errors that mean "the database cannot take this now", worth retrying as a whole batch: the
 * connection failed or dropped, the server is read-only (a failover in progress), or the
 * transaction lost a lock race. Anything else (data too long, a NULL in a NOT NULL column) is a
 * problem with the rows themselves and is rethrown as it is, so the caller can set them aside.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'POOL_CLOSED',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_OPTION_PREVENTS_STATEMENT',
  'ER_READ_ONLY_MODE',
  'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
]);
const UNAVAILABLE_ERRNOS = new Set([
  1040, // ER_CON_COUNT_ERROR
  1053, // ER_SERVER_SHUTDOWN
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK
  1290, // ER_OPTION_PREVENTS_STATEMENT (--read-only)
  1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  1836, // ER_READ_ONLY_MODE
  1927, // MariaDB ER_CONNECTION_KILLED
  8027, // TiDB: information schema is out of date
  8028, // TiDB: information schema changed
  9001, // TiDB: PD server timeout
  9002, // TiDB: TiKV server timeout
  9003, // TiDB: TiKV server is busy
  9004, // TiDB: resolve lock timeout
  9005, // TiDB: region is unavailable
  9006, // TiDB: GC life time is shorter than transaction duration
  9007, // TiDB: write conflict
]);

interface MysqlErrorLike {
  code?: unknown;
  errno?: unknown;
  fatal?: unknown;
  message?: unknown;
}

export function isUnavailableError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as MysqlErrorLike;
  if (e.fatal === true) return true;
  if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
  if (typeof e.errno === 'number' && UNAVAILABLE_ERRNOS.has(e.errno)) return true;
  return typeof e.message === 'string' && /read[- ]only|connect ETIMEDOUT|closed state/i.test(e.message);
}

/**
 * Errors about the values themselves: the same rows fail however often they are written, so the
 * persister sets them aside instead of retrying. Only these; an error we do not know (a missing
 * table, a permission) is not blamed on the data, or a schema mistake would dead-letter everything.
 */
const REJECTED_ERRNOS = new Set([
  1048, // ER_BAD_NULL_ERROR
  1153, // ER_NET_PACKET_TOO_LARGE: smaller batches fit; one row alone that does not is bad data
  1264, // ER_WARN_DATA_OUT_OF_RANGE
  1265, // WARN_DATA_TRUNCATED
  1292, // ER_TRUNCATED_WRONG_VALUE
  1300, // ER_INVALID_CHARACTER_STRING
  1364, // ER_NO_DEFAULT_FOR_FIELD
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD (e.g. text the column's charset cannot hold)
  1367, // ER_ILLEGAL_VALUE_FOR_TYPE
  1406, // ER_DATA_TOO_LONG
  1411, // ER_WRONG_VALUE_FOR_TYPE
  1452, // ER_NO_REFERENCED_ROW_2
  1690, // ER_DATA_OUT_OF_RANGE
  3140, // ER_INVALID_JSON_TEXT
  3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
  4025, // ER_CONSTRAINT_FAILED (MariaDB)
  8025, // TiDB: entry too large
]);

export function isRejectedError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const { errno } = err as MysqlErrorLike;
  return typeof errno === 'number' && REJECTED_ERRNOS.has(errno) && !isUnavailableError(err);
}

function toStoreError(err: unknown): unknown {
  if (err instanceof PigeonError) return err;
  const detail = err instanceof Error ? err.message || String((err as MysqlErrorLike).code) : String(err);
  if (isUnavailableError(err)) {
    return new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE', `MySQL store unavailable: ${detail}`, {
      cause: err,
    });
  }
  if (isRejectedError(err)) {
    return new PigeonError('PIGEON_ERR_STORE_REJECTED', `MySQL refused the data: ${detail}`, { cause: err });
  }
  return err;
}

/** The production store: MySQL protocol (TiDB in production, MariaDB in tests) through a pool. */
export class MysqlStore implements Store {
  readonly kind = 'mysql' as const;
  private readonly secrets: SecretSealer;
  private readonly pool: mysql.Pool;
  private readonly pingTimeoutMs: number;

  constructor(url: string, options: MysqlStoreOptions = {}) {
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2000;
    this.secrets = options.secrets ?? PLAIN_SECRETS;
    this.pool = mysql.createPool({
      uri: url,
      connectionLimit: options.connectionLimit ?? 10,
      connectTimeout: options.connectTimeoutMs ?? 3000,
      decimalNumbers: true,
      charset: 'utf8mb4',
      enableKeepAlive: true,
    });
  }

  async migrate(): Promise<void> {
    await this.withConnection(async (conn) => {
      const migrationConn: MigrationConnection = {
        execute: async (sql, params = []) => {
          await conn.query(sql, [...params]);
        },
        query: async <T>(sql: string, params: readonly unknown[] = []) => {
          const [rows] = await conn.query(sql, [...params]);
          return rows as T[];
        },
      };
      await runMigrations(migrationConn, 'mysql');
    });
  }

  async writeBatch(batch: WriteBatch): Promise<void> {
    const attempts = sortAttempts(batch.attempts ?? []);
    if (batch.messages.length === 0 && batch.events.length === 0 && attempts.length === 0) return;
    // Taking row locks in id order keeps two persisters writing overlapping batches from
    // deadlocking; the sort is stable, so patches for one id keep their relative order.
    const patches = [...batch.messages].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const events = [...batch.events].sort((a, b) =>
      a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0,
    );
    await this.withConnection(async (conn) => {
      await conn.beginTransaction();
      try {
        if (patches.length > 0) {
          await conn.query(
            `INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')})
VALUES ${patches.map(() => MESSAGE_ROW).join(', ')}
${ON_DUPLICATE}`,
            patches.flatMap(patchValues),
          );
        }
        if (events.length > 0) {
          // Not INSERT IGNORE: besides duplicates it turns data errors into warnings and truncates.
          await conn.query(
            `INSERT INTO message_events (${EVENT_COLUMNS.join(', ')})
VALUES ${events.map(() => EVENT_ROW).join(', ')}
ON DUPLICATE KEY UPDATE event_id = event_id`,
            events.flatMap(eventValues),
          );
        }
        if (attempts.length > 0) {
          await conn.query(
            `INSERT INTO message_attempts (${ATTEMPT_COLUMNS.join(', ')})
VALUES ${attempts.map(() => ATTEMPT_ROW).join(', ')}
${ATTEMPT_ON_DUPLICATE}`,
            attempts.flatMap(attemptValues),
          );
        }
        await conn.commit();
      } catch (err) {
        await conn.rollback().catch(() => undefined);
        throw err;
      }
    });
  }

  async getMessage(tenantId: string, id: string): Promise<MessageRecord | undefined> {
    const rows = await this.query<MessageRow>('SELECT * FROM messages WHERE id = ? AND tenant_id = ?', [
      id,
      tenantId,
    ]);
    const row = rows[0];
    return row && toMessageRecord(row);
  }

  async listEvents(tenantId: string, messageId: string): Promise<MessageEventRecord[]> {
    const rows = await this.query<EventRow>(
      'SELECT * FROM message_events WHERE message_id = ? AND tenant_id = ? ORDER BY occurred_at, event_id',
      [messageId, tenantId],
    );
    return rows.map(toEventRecord);
  }

  async listAttempts(tenantId: string, messageId: string): Promise<AttemptRecord[]> {
    const rows = await this.query<AttemptRow>(
      'SELECT * FROM message_attempts WHERE message_id = ? AND tenant_id = ? ORDER BY attempt',
      [messageId, tenantId],
    );
    return rows.map(toAttemptRecord);
  }

  async purgeMessages(before: number, limit: number): Promise<PurgeCounts> {
    const below = idFloor(before);
    // Each table on its own, in small autocommitted deletes along an index in key order: TiDB
    // and InnoDB both prefer many short transactions to one that holds locks on millions of rows.
    const purge = async (table: string, column: string) =>
      (
        await this.execute(`DELETE FROM ${table} WHERE ${column} < ? ORDER BY ${column} LIMIT ?`, [
          below,
          limit,
        ])
      ).affectedRows;
    const events = await purge('message_events', 'message_id');
    const attempts = await purge('message_attempts', 'message_id');
    const messages = await purge('messages', 'id');
    return { messages, events, attempts };
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.query<ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ?', [hash]);
    const row = rows[0];
    return row && toApiKeyRecord(row);
  }

  async putApiKey(key: ApiKeyRecord): Promise<void> {
    await this.query(
      `INSERT INTO api_keys (${API_KEY_COLUMNS.join(', ')})
VALUES ${placeholders(API_KEY_COLUMNS)} ON DUPLICATE KEY UPDATE id = id`,
      apiKeyValues(key),
    );
  }

  async putTotpFactor(factor: TotpFactorRecord): Promise<void> {
    // The unique (tenant_id, recipient) key makes a second factor for a number replace the first.
    await this.query(
      `INSERT INTO totp_factors (${TOTP_FACTOR_COLUMNS.join(', ')})
VALUES ${placeholders(TOTP_FACTOR_COLUMNS)} ON DUPLICATE KEY UPDATE
  id = VALUES(id), secret = VALUES(secret), status = VALUES(status),
  created_at = VALUES(created_at), verified_at = VALUES(verified_at)`,
      totpFactorValues(factor),
    );
  }

  async getTotpFactor(tenantId: string, id: string): Promise<TotpFactorRecord | undefined> {
    const rows = await this.query<TotpFactorRow>(
      'SELECT * FROM totp_factors WHERE id = ? AND tenant_id = ?',
      [id, tenantId],
    );
    return rows[0] && toTotpFactorRecord(rows[0]);
  }

  async findTotpFactor(tenantId: string, recipient: string): Promise<TotpFactorRecord | undefined> {
    const rows = await this.query<TotpFactorRow>(
      'SELECT * FROM totp_factors WHERE tenant_id = ? AND recipient = ?',
      [tenantId, recipient],
    );
    return rows[0] && toTotpFactorRecord(rows[0]);
  }

  async verifyTotpFactor(tenantId: string, id: string, at: number): Promise<boolean> {
    const result = (await this.query(
      `UPDATE totp_factors SET status = 'verified', verified_at = COALESCE(verified_at, ?)
WHERE id = ? AND tenant_id = ?`,
      [at, id, tenantId],
    )) as unknown as { affectedRows: number };
    return result.affectedRows > 0;
  }

  async deleteTotpFactor(tenantId: string, id: string): Promise<boolean> {
    const result = (await this.query('DELETE FROM totp_factors WHERE id = ? AND tenant_id = ?', [
      id,
      tenantId,
    ])) as unknown as { affectedRows: number };
    return result.affectedRows > 0;
  }

  async listProviders(): Promise<ProviderRecord[]> {
    const rows = await this.query<ProviderRow>('SELECT * FROM providers ORDER BY name', []);
    return rows.map((row) => toProviderRecord(row, this.secrets));
  }

  async putProvider<T extends StorableProvider>(definition: T, options: PutOptions = {}): Promise<boolean> {
    return this.put(
      options.ifAbsent ? INSERT_PROVIDER : UPSERT_PROVIDER,
      providerValues(definition, Date.now(), this.secrets),
    );
  }

  async deleteProvider(name: string): Promise<boolean> {
    return (await this.execute('DELETE FROM providers WHERE name = ?', [name])).affectedRows > 0;
  }

  async listRoutes(): Promise<RouteRecord[]> {
    const rows = await this.query<RouteRow>('SELECT * FROM routes ORDER BY priority, id', []);
    return rows.map(toRouteRecord);
  }

  async putRoute<T extends StorableRoute>(rule: T, options: PutOptions = {}): Promise<boolean> {
    return this.put(options.ifAbsent ? INSERT_ROUTE : UPSERT_ROUTE, routeValues(rule, Date.now()));
  }

  async deleteRoute(id: string): Promise<boolean> {
    return (await this.execute('DELETE FROM routes WHERE id = ?', [id])).affectedRows > 0;
  }

  async routingVersion(): Promise<string> {
    const [row] = await this.query<RoutingVersionRow>(ROUTING_VERSION, []);
    return routingVersionOf(row!);
  }

  // ---- Listings, usage and status callbacks ----

  async listMessages(tenantId: string, filter: MessageFilter, page: MessagePage): Promise<MessageRecord[]> {
    const where = listingWhere(tenantId, filter, page.before);
    const rows = await this.query<MessageRow>(
      `SELECT * FROM messages WHERE ${where.sql} ORDER BY id DESC LIMIT ?`,
      [...where.params, page.limit],
    );
    return rows.map(toMessageRecord);
  }

  async usage(
    tenantId: string,
    range: { since: number; until: number },
    groupBy: UsageGroupBy,
  ): Promise<UsageRow[]> {
    const query = usageQuery(tenantId, range, groupBy, (column) => `(${column} DIV 86400000)`);
    const rows = await this.query<UsageSqlRow>(query.sql, query.params);
    return rows.map((row) => toUsageRow(row, groupBy));
  }

  async getWebhook(tenantId: string): Promise<WebhookRecord | undefined> {
    const rows = await this.query<WebhookRow>('SELECT * FROM tenant_webhooks WHERE tenant_id = ?', [
      tenantId,
    ]);
    return rows[0] && toWebhookRecord(rows[0], this.secrets);
  }

  async putWebhook(webhook: WebhookRecord): Promise<void> {
    await this.query(
      `INSERT INTO tenant_webhooks (${WEBHOOK_COLUMNS.join(', ')}) VALUES ${placeholders(WEBHOOK_COLUMNS)}
ON DUPLICATE KEY UPDATE url = VALUES(url), secret = VALUES(secret), updated_at = VALUES(updated_at)`,
      webhookValues(webhook, this.secrets),
    );
  }

  async resealSecrets(): Promise<ResealCounts> {
    const providers = await this.query<ProviderRow>('SELECT * FROM providers', []);
    for (const row of providers) {
      await this.execute(
        'UPDATE providers SET definition = ?, updated_at = GREATEST(?, updated_at + 1) WHERE name = ?',
        [this.secrets.reseal(row.definition, `provider ${row.name}`), Date.now(), row.name],
      );
    }
    const webhooks = await this.query<WebhookRow>('SELECT * FROM tenant_webhooks', []);
    for (const row of webhooks) {
      await this.execute('UPDATE tenant_webhooks SET secret = ? WHERE tenant_id = ?', [
        this.secrets.reseal(row.secret, `the webhook secret of tenant ${row.tenant_id}`),
        row.tenant_id,
      ]);
    }
    return { providers: providers.length, webhooks: webhooks.length };
  }

  async deleteWebhook(tenantId: string): Promise<boolean> {
    return (
      (await this.execute('DELETE FROM tenant_webhooks WHERE tenant_id = ?', [tenantId])).affectedRows > 0
    );
  }

  async callbackTargets(messageIds: readonly string[]): Promise<CallbackTarget[]> {
    const targets: CallbackTarget[] = [];
    for (let i = 0; i < messageIds.length; i += 500) {
      const query = callbackTargetsQuery(messageIds.slice(i, i + 500));
      const rows = await this.query<CallbackTargetRow>(query.sql, query.params);
      targets.push(...rows.map(toCallbackTarget));
    }
    return targets;
  }

  async enqueueCallbacks(deliveries: readonly CallbackDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const row = placeholders(DELIVERY_COLUMNS);
    await this.withConnection(async (conn) => {
      await conn.beginTransaction();
      try {
        for (let i = 0; i < deliveries.length; i += 500) {
          const chunk = deliveries.slice(i, i + 500);
          // Not INSERT IGNORE, which would also turn data errors into warnings.
          await conn.query(
            `INSERT INTO callback_deliveries (${DELIVERY_COLUMNS.join(', ')})
VALUES ${chunk.map(() => row).join(', ')} ON DUPLICATE KEY UPDATE id = id`,
            chunk.flatMap(deliveryValues),
          );
        }
        await conn.commit();
      } catch (err) {
        await conn.rollback().catch(() => undefined);
        throw err;
      }
    });
  }

  async dueCallbacks(options: {
    now: number;
    limit: number;
    excludeHosts: readonly string[];
  }): Promise<Array<{ id: string; host: string }>> {
    const query = dueCallbacksQuery(options);
    return this.query<{ id: string; host: string }>(query.sql, query.params);
  }

  async claimCallbacks(
    ids: readonly string[],
    lease: { now: number; leaseUntil: number; token: string },
  ): Promise<CallbackDelivery[]> {
    if (ids.length === 0) return [];
    const { update, select } = claimCallbacksStatements(ids, lease);
    await this.execute(update.sql, update.params);
    const rows = await this.query<DeliveryRow>(select.sql, select.params);
    return rows.map(toCallbackDelivery);
  }

  async updateCallback(id: string, token: string, change: CallbackChange): Promise<boolean> {
    const statement = updateCallbackStatement(id, token, change);
    return (await this.execute(statement.sql, statement.params)).affectedRows > 0;
  }

  async deferCallbacks(host: string, until: number): Promise<number> {
    return (await this.execute(DEFER_CALLBACKS, [until, host, until])).affectedRows;
  }

  async callbackBacklog(): Promise<CallbackBacklog> {
    const [row] = await this.query<BacklogRow>(CALLBACK_BACKLOG, []);
    return {
      pending: Number(row?.pending ?? 0),
      oldestCreatedAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest),
    };
  }

  async purgeCallbacks(before: number, limit: number): Promise<number> {
    const states = FINISHED_STATES.map((state) => `'${state}'`).join(', ');
    const result = await this.execute(
      `DELETE FROM callback_deliveries WHERE state IN (${states}) AND created_at < ? LIMIT ?`,
      [before, limit],
    );
    return result.affectedRows;
  }

  // ---- Per-tenant OTP settings ----

  async getTenantOtpSettings(tenantId: string): Promise<TenantOtpSettings | undefined> {
    const rows = await this.query<TenantOtpSettingsRow>(SELECT_TENANT_OTP_SETTINGS, [tenantId]);
    return rows[0] && toTenantOtpSettings(rows[0]);
  }

  async putTenantOtpSettings(tenantId: string, settings: TenantOtpSettings): Promise<void> {
    await this.query(
      `INSERT INTO tenant_otp_settings (tenant_id, allowed_countries, daily_spend_cap, updated_at)
VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE allowed_countries = VALUES(allowed_countries),
daily_spend_cap = VALUES(daily_spend_cap), updated_at = VALUES(updated_at)`,
      tenantOtpSettingsValues(tenantId, settings),
    );
  }

  // ---- On-call rosters and pages ----

  async listRosters(tenantId: string): Promise<RosterRecord[]> {
    const rows = await this.query<RosterRow>(
      'SELECT * FROM oncall_rosters WHERE tenant_id = ? ORDER BY name',
      [tenantId],
    );
    return rows.map(toRosterRecord);
  }

  async getRoster(tenantId: string, name: string): Promise<RosterRecord | undefined> {
    const rows = await this.query<RosterRow>(
      'SELECT * FROM oncall_rosters WHERE tenant_id = ? AND name = ?',
      [tenantId, name],
    );
    return rows[0] && toRosterRecord(rows[0]);
  }

  async putRoster(record: RosterRecord): Promise<void> {
    await this.query(
      `INSERT INTO oncall_rosters (${ROSTER_COLUMNS.join(', ')}) VALUES (?, ?, ?, ?)
ON DUPLICATE KEY UPDATE definition = VALUES(definition), updated_at = VALUES(updated_at)`,
      rosterValues(record),
    );
  }

  async deleteRoster(tenantId: string, name: string): Promise<boolean> {
    return (
      (await this.execute('DELETE FROM oncall_rosters WHERE tenant_id = ? AND name = ?', [tenantId, name]))
        .affectedRows > 0
    );
  }

  async insertPage(page: PageRecord): Promise<void> {
    await this.query(INSERT_PAGE, pageValues(page));
  }

  async getPage(tenantId: string, id: string): Promise<PageRecord | undefined> {
    const rows = await this.query<PageRow>('SELECT * FROM oncall_pages WHERE id = ? AND tenant_id = ?', [
      id,
      tenantId,
    ]);
    return rows[0] && toPageRecord(rows[0]);
  }

  async findPages(
    tenantId: string,
    fingerprint: string,
    statuses: readonly PageStatus[],
  ): Promise<PageRecord[]> {
    if (statuses.length === 0) return [];
    const rows = await this.query<PageRow>(findPagesSql(statuses.length), [
      tenantId,
      fingerprint,
      ...statuses,
    ]);
    return rows.map(toPageRecord);
  }

  async updatePage(page: PageRecord, expected: { status: PageStatus; level: number }): Promise<boolean> {
    // mysql2 reports found rows, so a write that changes nothing still counts as having matched.
    return (await this.execute(UPDATE_PAGE, updatePageValues(page, expected))).affectedRows > 0;
  }

  async duePages(now: number, limit: number): Promise<PageRecord[]> {
    const rows = await this.query<PageRow>(DUE_PAGES, [now, limit]);
    return rows.map(toPageRecord);
  }

  // ---- Alerting: rules, silences, incidents ----

  async listAlertRules(): Promise<AlertRuleRecord[]> {
    const rows = await this.query<AlertRuleRow>('SELECT * FROM alert_rules ORDER BY id', []);
    return rows.map(toAlertRuleRecord);
  }

  async putAlertRule(rule: { id: string } & Record<string, unknown>): Promise<void> {
    await this.execute(
      `INSERT INTO alert_rules (${ALERT_RULE_COLUMNS.join(', ')}) VALUES ${placeholders(ALERT_RULE_COLUMNS)}
ON DUPLICATE KEY UPDATE definition = VALUES(definition), updated_at = VALUES(updated_at)`,
      alertRuleValues(rule, Date.now()),
    );
  }

  async deleteAlertRule(id: string): Promise<boolean> {
    return (await this.execute('DELETE FROM alert_rules WHERE id = ?', [id])).affectedRows > 0;
  }

  async listSilences(activeAfter?: number): Promise<SilenceRecord[]> {
    const rows = await this.query<SilenceRow>(
      activeAfter === undefined
        ? 'SELECT * FROM alert_silences ORDER BY id DESC'
        : 'SELECT * FROM alert_silences WHERE ends_at > ? ORDER BY id DESC',
      activeAfter === undefined ? [] : [activeAfter],
    );
    return rows.map(toSilenceRecord);
  }

  async getSilence(id: string): Promise<SilenceRecord | undefined> {
    const rows = await this.query<SilenceRow>('SELECT * FROM alert_silences WHERE id = ?', [id]);
    return rows[0] && toSilenceRecord(rows[0]);
  }

  async putSilence(silence: SilenceRecord): Promise<void> {
    await this.execute(
      `INSERT INTO alert_silences (${SILENCE_COLUMNS.join(', ')}) VALUES ${placeholders(SILENCE_COLUMNS)}
ON DUPLICATE KEY UPDATE matchers = VALUES(matchers), starts_at = VALUES(starts_at),
  ends_at = VALUES(ends_at), comment = VALUES(comment)`,
      silenceValues(silence),
    );
  }

  async putIncidents(incidents: readonly IncidentRecord[]): Promise<void> {
    if (incidents.length === 0) return;
    // Assignments run left to right and see the columns already assigned: acked_by is decided
    // while acked_at still holds the stored value, and the state columns before `state` changes.
    await this.execute(
      `INSERT INTO alert_incidents (${INCIDENT_COLUMNS.join(', ')})
VALUES ${incidents.map(() => placeholders(INCIDENT_COLUMNS)).join(', ')}
ON DUPLICATE KEY UPDATE
  acked_by = IF(acked_at IS NULL, VALUES(acked_by), acked_by),
  acked_at = COALESCE(acked_at, VALUES(acked_at)),
  resolved_at = COALESCE(resolved_at, VALUES(resolved_at)),
  fired_at = COALESCE(fired_at, VALUES(fired_at)),
  state = IF(state = 'resolved', state, VALUES(state)),
  severity = VALUES(severity),
  labels = VALUES(labels),
  detail = VALUES(detail),
  updated_at = GREATEST(updated_at, VALUES(updated_at))`,
      incidents.flatMap(incidentValues),
    );
  }

  async listIncidents(filter: { open?: boolean; before?: string; limit: number }): Promise<IncidentRecord[]> {
    const params: unknown[] = [...(filter.before !== undefined ? [filter.before] : []), filter.limit];
    const rows = await this.query<IncidentRow>(listIncidentsSql(filter), params);
    return rows.map(toIncidentRecord);
  }

  async getIncident(id: string): Promise<IncidentRecord | undefined> {
    const rows = await this.query<IncidentRow>('SELECT * FROM alert_incidents WHERE id = ?', [id]);
    return rows[0] && toIncidentRecord(rows[0]);
  }

  async acknowledgeIncident(idOrCode: string, by: string, at: number): Promise<IncidentRecord | undefined> {
    await this.execute(ACK_INCIDENT, [by, at, at, idOrCode, idOrCode]);
    const rows = await this.query<IncidentRow>(FIND_INCIDENT, [idOrCode, idOrCode]);
    return rows[0] && toIncidentRecord(rows[0]);
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query({ sql: 'SELECT 1', timeout: this.pingTimeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async query<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    try {
      const [rows] = await this.pool.query(sql, [...params]);
      return rows as T[];
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /** Runs an upsert or an insert; false when the insert found the key taken. */
  private async put(sql: string, params: readonly unknown[]): Promise<boolean> {
    try {
      await this.pool.query(sql, [...params]);
      return true;
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === 'ER_DUP_ENTRY') return false;
      throw toStoreError(err);
    }
  }

  private async execute(sql: string, params: readonly unknown[]): Promise<mysql.ResultSetHeader> {
    try {
      const [result] = await this.pool.query<mysql.ResultSetHeader>(sql, [...params]);
      return result;
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /** Runs fn on one pooled connection; a connection that failed is dropped, not handed out again. */
  private async withConnection<T>(fn: (conn: mysql.PoolConnection) => Promise<T>): Promise<T> {
    let conn: mysql.PoolConnection;
    try {
      conn = await this.pool.getConnection();
    } catch (err) {
      throw toStoreError(err);
    }
    let broken = false;
    try {
      return await fn(conn);
    } catch (err) {
      broken = isUnavailableError(err);
      throw toStoreError(err);
    } finally {
      if (broken) conn.destroy();
      else conn.release();
    }
  }
}
