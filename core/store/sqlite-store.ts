import { createRequire } from 'node:module';
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

// better-sqlite3 ships no type declarations; this is the slice of its API the store uses.
interface Statement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface Database {
  readonly open: boolean;
  prepare(sql: string): Statement;
  pragma(source: string): unknown;
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  close(): void;
}
type DatabaseConstructor = new (path: string, options?: { timeout?: number }) => Database;

const require = createRequire(import.meta.url);
const BetterSqlite3 = require('better-sqlite3') as DatabaseConstructor;

export interface SqliteStoreOptions {
  /** How long a writer waits for another connection's write lock before failing. */
  busyTimeoutMs?: number;
  /** Seals provider credentials and webhook secrets at rest; without it they are stored as given. */
  secrets?: SecretSealer;
}

// In an upsert's DO UPDATE every right-hand side sees the stored row as it was, so the order of
// the assignments does not matter here (unlike MySQL). MIN over the two COALESCEs keeps the
// earlier of two times, the only one when the other is NULL, and NULL when both are.
const UPSERT_MESSAGE = `INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')})
VALUES ${placeholders(MESSAGE_COLUMNS)}
ON CONFLICT (id) DO UPDATE SET
${messageUpsertAssignments({ incoming: (c) => `excluded.${c}`, greatest: 'MAX', least: 'MIN' })}`;

const UPSERT_ATTEMPT = `INSERT INTO message_attempts (${ATTEMPT_COLUMNS.join(', ')})
VALUES ${placeholders(ATTEMPT_COLUMNS)}
ON CONFLICT (message_id, attempt) DO UPDATE SET
${attemptUpsertAssignments((c) => `excluded.${c}`)}`;

// DO NOTHING on the event id only, not INSERT OR IGNORE, which would also drop rows that break a
// NOT NULL constraint without a word.
const INSERT_EVENT = `INSERT INTO message_events (${EVENT_COLUMNS.join(', ')})
VALUES ${placeholders(EVENT_COLUMNS)}
ON CONFLICT (event_id) DO NOTHING`;

const INSERT_API_KEY = `INSERT INTO api_keys (${API_KEY_COLUMNS.join(', ')})
VALUES ${placeholders(API_KEY_COLUMNS)}
ON CONFLICT DO NOTHING`;

// updated_at only moves forward, even within one millisecond: routingVersion() depends on it.
const UPSERT_PROVIDER = `INSERT INTO providers (${PROVIDER_COLUMNS.join(', ')})
VALUES ${placeholders(PROVIDER_COLUMNS)}
ON CONFLICT (name) DO UPDATE SET
  type = excluded.type,
  definition = excluded.definition,
  enabled = excluded.enabled,
  updated_at = MAX(excluded.updated_at, updated_at + 1)`;

const UPSERT_ROUTE = `INSERT INTO routes (${ROUTE_COLUMNS.join(', ')})
VALUES ${placeholders(ROUTE_COLUMNS)}
ON CONFLICT (id) DO UPDATE SET
  priority = excluded.priority,
  definition = excluded.definition,
  enabled = excluded.enabled,
  updated_at = MAX(excluded.updated_at, updated_at + 1)`;

const ROUTING_VERSION = `SELECT
  (SELECT COUNT(*) FROM providers) AS provider_count,
  (SELECT CAST(COALESCE(SUM(updated_at), 0) AS TEXT) FROM providers) AS provider_sum,
  (SELECT COUNT(*) FROM routes) AS route_count,
  (SELECT CAST(COALESCE(SUM(updated_at), 0) AS TEXT) FROM routes) AS route_sum`;

const SQLITE_UNAVAILABLE = [
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
  'SQLITE_FULL',
  'SQLITE_PROTOCOL',
  'SQLITE_NOTADB',
  'SQLITE_CORRUPT',
];

/** Errors about the values themselves (see MysqlStore's REJECTED_ERRNOS). */
const SQLITE_REJECTED = [
  'SQLITE_CONSTRAINT_NOTNULL',
  'SQLITE_CONSTRAINT_CHECK',
  'SQLITE_CONSTRAINT_FOREIGNKEY',
  'SQLITE_TOOBIG',
  'SQLITE_MISMATCH',
];

let inProcessMigration: Promise<unknown> = Promise.resolve();

interface Statements {
  upsertMessage: Statement;
  insertEvent: Statement;
  getMessage: Statement;
  listEvents: Statement;
  findApiKey: Statement;
  putApiKey: Statement;
  writeBatch: (batch: WriteBatch) => void;
  listProviders: Statement;
  upsertProvider: Statement;
  insertProvider: Statement;
  deleteProvider: Statement;
  listRoutes: Statement;
  upsertRoute: Statement;
  insertRoute: Statement;
  deleteRoute: Statement;
  routingVersion: Statement;
}

interface FactorStatements {
  put: Statement;
  get: Statement;
  find: Statement;
  verify: Statement;
  delete: Statement;
}

/** The embedded-mode store: one SQLite file, WAL journal, one connection per process. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly secrets: SecretSealer;
  private readonly db: Database;
  private statements: Statements | undefined;
  private factorStatements: FactorStatements | undefined;
  private readonly adHoc = new Map<string, Statement>();

  constructor(path: string, options: SqliteStoreOptions = {}) {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.secrets = options.secrets ?? PLAIN_SECRETS;
    try {
      this.db = new BetterSqlite3(path, { timeout: busyTimeoutMs });
      // WAL lets readers run beside the writer; NORMAL skips the fsync per commit, which WAL makes
      // safe against corruption (a power cut may lose the last commits, never the file).
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    } catch (err) {
      throw this.toStoreError(err);
    }
  }

  async migrate(): Promise<void> {
    const conn: MigrationConnection = {
      execute: async (sql, params = []) => {
        this.db.prepare(sql).run(...params);
      },
      query: async <T>(sql: string, params: readonly unknown[] = []) =>
        this.db.prepare(sql).all(...params) as T[],
    };
    // Across processes, BEGIN IMMEDIATE makes migrations queue. Within one process it cannot: the
    // migrator awaits between statements, and a second connection waiting for the write lock
    // blocks the very thread the first one needs to finish, so stores here take turns.
    const run = inProcessMigration.then(() => runMigrations(conn, 'sqlite'));
    inProcessMigration = run.catch(() => undefined);
    try {
      await run;
    } catch (err) {
      throw this.toStoreError(err);
    }
  }

  async writeBatch(batch: WriteBatch): Promise<void> {
    this.run((s) => s.writeBatch(batch));
  }

  async getMessage(tenantId: string, id: string): Promise<MessageRecord | undefined> {
    const row = this.run((s) => s.getMessage.get(id, tenantId)) as MessageRow | undefined;
    return row && toMessageRecord(row);
  }

  async listEvents(tenantId: string, messageId: string): Promise<MessageEventRecord[]> {
    const rows = this.run((s) => s.listEvents.all(messageId, tenantId)) as EventRow[];
    return rows.map(toEventRecord);
  }

  async listAttempts(tenantId: string, messageId: string): Promise<AttemptRecord[]> {
    const rows = this.runSql(
      'SELECT * FROM message_attempts WHERE message_id = ? AND tenant_id = ? ORDER BY attempt',
      (s) => s.all(messageId, tenantId),
    ) as AttemptRow[];
    return rows.map(toAttemptRecord);
  }

  async purgeMessages(before: number, limit: number): Promise<PurgeCounts> {
    const below = idFloor(before);
    // DELETE … LIMIT needs a compile-time option SQLite builds may lack; a rowid subquery does not.
    const purge = (table: string, column: string) =>
      this.runSql(
        `DELETE FROM ${table} WHERE rowid IN (
  SELECT rowid FROM ${table} WHERE ${column} < ? ORDER BY ${column} LIMIT ?)`,
        (s) => s.run(below, limit),
      ).changes;
    const events = purge('message_events', 'message_id');
    const attempts = purge('message_attempts', 'message_id');
    const messages = purge('messages', 'id');
    return { messages, events, attempts };
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const row = this.run((s) => s.findApiKey.get(hash)) as ApiKeyRow | undefined;
    return row && toApiKeyRecord(row);
  }

  async putApiKey(key: ApiKeyRecord): Promise<void> {
    this.run((s) => s.putApiKey.run(...apiKeyValues(key)));
  }

  async putTotpFactor(factor: TotpFactorRecord): Promise<void> {
    this.runFactor((s) => s.put.run(...totpFactorValues(factor)));
  }

  async getTotpFactor(tenantId: string, id: string): Promise<TotpFactorRecord | undefined> {
    const row = this.runFactor((s) => s.get.get(id, tenantId)) as TotpFactorRow | undefined;
    return row && toTotpFactorRecord(row);
  }

  async findTotpFactor(tenantId: string, recipient: string): Promise<TotpFactorRecord | undefined> {
    const row = this.runFactor((s) => s.find.get(tenantId, recipient)) as TotpFactorRow | undefined;
    return row && toTotpFactorRecord(row);
  }

  async verifyTotpFactor(tenantId: string, id: string, at: number): Promise<boolean> {
    return this.runFactor((s) => s.verify.run(at, id, tenantId)).changes > 0;
  }

  async deleteTotpFactor(tenantId: string, id: string): Promise<boolean> {
    return this.runFactor((s) => s.delete.run(id, tenantId)).changes > 0;
  }

  /** Like run(), for the factor statements, which are prepared apart from the message ones. */
  private runFactor<T>(fn: (statements: FactorStatements) => T): T {
    return this.run(() => {
      this.factorStatements ??= {
        // The unique (tenant_id, recipient) key makes a second factor for a number replace the first.
        put: this.db.prepare(`INSERT INTO totp_factors (${TOTP_FACTOR_COLUMNS.join(', ')})
VALUES ${placeholders(TOTP_FACTOR_COLUMNS)}
ON CONFLICT (tenant_id, recipient) DO UPDATE SET id = excluded.id, secret = excluded.secret,
  status = excluded.status, created_at = excluded.created_at, verified_at = excluded.verified_at`),
        get: this.db.prepare('SELECT * FROM totp_factors WHERE id = ? AND tenant_id = ?'),
        find: this.db.prepare('SELECT * FROM totp_factors WHERE tenant_id = ? AND recipient = ?'),
        verify: this.db.prepare(
          `UPDATE totp_factors SET status = 'verified', verified_at = COALESCE(verified_at, ?)
WHERE id = ? AND tenant_id = ?`,
        ),
        delete: this.db.prepare('DELETE FROM totp_factors WHERE id = ? AND tenant_id = ?'),
      };
      return fn(this.factorStatements);
    });
  }

  async listProviders(): Promise<ProviderRecord[]> {
    const rows = this.run((s) => s.listProviders.all()) as ProviderRow[];
    return rows.map((row) => toProviderRecord(row, this.secrets));
  }

  async putProvider<T extends StorableProvider>(definition: T, options: PutOptions = {}): Promise<boolean> {
    const values = providerValues(definition, Date.now(), this.secrets);
    const { changes } = this.run((s) =>
      (options.ifAbsent ? s.insertProvider : s.upsertProvider).run(...values),
    );
    return changes > 0;
  }

  async deleteProvider(name: string): Promise<boolean> {
    return this.run((s) => s.deleteProvider.run(name)).changes > 0;
  }

  async listRoutes(): Promise<RouteRecord[]> {
    const rows = this.run((s) => s.listRoutes.all()) as RouteRow[];
    return rows.map(toRouteRecord);
  }

  async putRoute<T extends StorableRoute>(rule: T, options: PutOptions = {}): Promise<boolean> {
    const values = routeValues(rule, Date.now());
    const { changes } = this.run((s) => (options.ifAbsent ? s.insertRoute : s.upsertRoute).run(...values));
    return changes > 0;
  }

  async deleteRoute(id: string): Promise<boolean> {
    return this.run((s) => s.deleteRoute.run(id)).changes > 0;
  }

  async routingVersion(): Promise<string> {
    return routingVersionOf(this.run((s) => s.routingVersion.get()) as RoutingVersionRow);
  }

  // ---- Listings, usage and status callbacks ----

  async listMessages(tenantId: string, filter: MessageFilter, page: MessagePage): Promise<MessageRecord[]> {
    const where = listingWhere(tenantId, filter, page.before);
    const rows = this.runSql(`SELECT * FROM messages WHERE ${where.sql} ORDER BY id DESC LIMIT ?`, (s) =>
      s.all(...where.params, page.limit),
    ) as MessageRow[];
    return rows.map(toMessageRecord);
  }

  async usage(
    tenantId: string,
    range: { since: number; until: number },
    groupBy: UsageGroupBy,
  ): Promise<UsageRow[]> {
    // Integer division of INTEGER columns: whole days since the epoch.
    const query = usageQuery(tenantId, range, groupBy, (column) => `(${column} / 86400000)`);
    const rows = this.runSql(query.sql, (s) => s.all(...query.params)) as UsageSqlRow[];
    return rows.map((row) => toUsageRow(row, groupBy));
  }

  async getWebhook(tenantId: string): Promise<WebhookRecord | undefined> {
    const row = this.runSql('SELECT * FROM tenant_webhooks WHERE tenant_id = ?', (s) => s.get(tenantId)) as
      WebhookRow | undefined;
    return row && toWebhookRecord(row, this.secrets);
  }

  async putWebhook(webhook: WebhookRecord): Promise<void> {
    this.runSql(
      `INSERT INTO tenant_webhooks (${WEBHOOK_COLUMNS.join(', ')}) VALUES ${placeholders(WEBHOOK_COLUMNS)}
ON CONFLICT (tenant_id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
  updated_at = excluded.updated_at`,
      (s) => s.run(...webhookValues(webhook, this.secrets)),
    );
  }

  async resealSecrets(): Promise<ResealCounts> {
    const providers = this.runSql('SELECT * FROM providers', (s) => s.all()) as ProviderRow[];
    for (const row of providers) {
      const definition = this.secrets.reseal(row.definition, `provider ${row.name}`);
      this.runSql(
        'UPDATE providers SET definition = ?, updated_at = MAX(?, updated_at + 1) WHERE name = ?',
        (s) => s.run(definition, Date.now(), row.name),
      );
    }
    const webhooks = this.runSql('SELECT * FROM tenant_webhooks', (s) => s.all()) as WebhookRow[];
    for (const row of webhooks) {
      const secret = this.secrets.reseal(row.secret, `the webhook secret of tenant ${row.tenant_id}`);
      this.runSql('UPDATE tenant_webhooks SET secret = ? WHERE tenant_id = ?', (s) =>
        s.run(secret, row.tenant_id),
      );
    }
    return { providers: providers.length, webhooks: webhooks.length };
  }

  async deleteWebhook(tenantId: string): Promise<boolean> {
    return this.runSql('DELETE FROM tenant_webhooks WHERE tenant_id = ?', (s) => s.run(tenantId)).changes > 0;
  }

  async callbackTargets(messageIds: readonly string[]): Promise<CallbackTarget[]> {
    const targets: CallbackTarget[] = [];
    for (let i = 0; i < messageIds.length; i += 500) {
      const query = callbackTargetsQuery(messageIds.slice(i, i + 500));
      const rows = this.runSql(query.sql, (s) => s.all(...query.params)) as CallbackTargetRow[];
      targets.push(...rows.map(toCallbackTarget));
    }
    return targets;
  }

  async enqueueCallbacks(deliveries: readonly CallbackDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const insert = this.runSql(
      `INSERT INTO callback_deliveries (${DELIVERY_COLUMNS.join(', ')})
VALUES ${placeholders(DELIVERY_COLUMNS)} ON CONFLICT (id) DO NOTHING`,
      (s) => s,
    );
    this.run(() =>
      this.db.transaction(() => {
        for (const delivery of deliveries) insert.run(...deliveryValues(delivery));
      })(),
    );
  }

  async dueCallbacks(options: {
    now: number;
    limit: number;
    excludeHosts: readonly string[];
  }): Promise<Array<{ id: string; host: string }>> {
    const query = dueCallbacksQuery(options);
    return this.runSql(query.sql, (s) => s.all(...query.params)) as Array<{ id: string; host: string }>;
  }

  async claimCallbacks(
    ids: readonly string[],
    lease: { now: number; leaseUntil: number; token: string },
  ): Promise<CallbackDelivery[]> {
    if (ids.length === 0) return [];
    const { update, select } = claimCallbacksStatements(ids, lease);
    this.runSql(update.sql, (s) => s.run(...update.params));
    const rows = this.runSql(select.sql, (s) => s.all(...select.params)) as DeliveryRow[];
    return rows.map(toCallbackDelivery);
  }

  async updateCallback(id: string, token: string, change: CallbackChange): Promise<boolean> {
    const statement = updateCallbackStatement(id, token, change);
    return this.runSql(statement.sql, (s) => s.run(...statement.params)).changes > 0;
  }

  async deferCallbacks(host: string, until: number): Promise<number> {
    return this.runSql(DEFER_CALLBACKS, (s) => s.run(until, host, until)).changes;
  }

  async callbackBacklog(): Promise<CallbackBacklog> {
    const row = this.runSql(CALLBACK_BACKLOG, (s) => s.get()) as BacklogRow;
    return { pending: Number(row.pending), oldestCreatedAt: row.oldest === null ? null : Number(row.oldest) };
  }

  async purgeCallbacks(before: number, limit: number): Promise<number> {
    const states = FINISHED_STATES.map((state) => `'${state}'`).join(', ');
    return this.runSql(
      `DELETE FROM callback_deliveries WHERE id IN (
  SELECT id FROM callback_deliveries WHERE state IN (${states}) AND created_at < ? LIMIT ?)`,
      (s) => s.run(before, limit),
    ).changes;
  }

  /** Runs fn over the statement for `sql`, prepared once: listings vary with their filters. */
  private runSql<T>(sql: string, fn: (statement: Statement) => T): T {
    return this.run(() => {
      let statement = this.adHoc.get(sql);
      if (!statement) {
        statement = this.db.prepare(sql);
        this.adHoc.set(sql, statement);
      }
      return fn(statement);
    });
  }

  // ---- Per-tenant OTP settings ----

  async getTenantOtpSettings(tenantId: string): Promise<TenantOtpSettings | undefined> {
    const row = this.runSql(SELECT_TENANT_OTP_SETTINGS, (s) => s.get(tenantId)) as
      TenantOtpSettingsRow | undefined;
    return row && toTenantOtpSettings(row);
  }

  async putTenantOtpSettings(tenantId: string, settings: TenantOtpSettings): Promise<void> {
    this.runSql(
      `INSERT INTO tenant_otp_settings (tenant_id, allowed_countries, daily_spend_cap, updated_at)
VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id) DO UPDATE SET allowed_countries = excluded.allowed_countries,
daily_spend_cap = excluded.daily_spend_cap, updated_at = excluded.updated_at`,
      (s) => s.run(...tenantOtpSettingsValues(tenantId, settings)),
    );
  }

  // ---- On-call rosters and pages ----

  private oncallStatements: Map<string, Statement> | undefined;

  /** Statements of the on-call tables, prepared on first use (after migrate()) and kept. */
  private oncall<T>(sql: string, fn: (statement: Statement) => T): T {
    return this.run(() => {
      this.oncallStatements ??= new Map();
      let statement = this.oncallStatements.get(sql);
      if (!statement) {
        statement = this.db.prepare(sql);
        this.oncallStatements.set(sql, statement);
      }
      return fn(statement);
    });
  }

  async listRosters(tenantId: string): Promise<RosterRecord[]> {
    const rows = this.oncall('SELECT * FROM oncall_rosters WHERE tenant_id = ? ORDER BY name', (s) =>
      s.all(tenantId),
    ) as RosterRow[];
    return rows.map(toRosterRecord);
  }

  async getRoster(tenantId: string, name: string): Promise<RosterRecord | undefined> {
    const row = this.oncall('SELECT * FROM oncall_rosters WHERE tenant_id = ? AND name = ?', (s) =>
      s.get(tenantId, name),
    ) as RosterRow | undefined;
    return row && toRosterRecord(row);
  }

  async putRoster(record: RosterRecord): Promise<void> {
    this.oncall(
      `INSERT INTO oncall_rosters (${ROSTER_COLUMNS.join(', ')}) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant_id, name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at`,
      (s) => s.run(...rosterValues(record)),
    );
  }

  async deleteRoster(tenantId: string, name: string): Promise<boolean> {
    return (
      this.oncall('DELETE FROM oncall_rosters WHERE tenant_id = ? AND name = ?', (s) => s.run(tenantId, name))
        .changes > 0
    );
  }

  async insertPage(page: PageRecord): Promise<void> {
    this.oncall(INSERT_PAGE, (s) => s.run(...pageValues(page)));
  }

  async getPage(tenantId: string, id: string): Promise<PageRecord | undefined> {
    const row = this.oncall('SELECT * FROM oncall_pages WHERE id = ? AND tenant_id = ?', (s) =>
      s.get(id, tenantId),
    ) as PageRow | undefined;
    return row && toPageRecord(row);
  }

  async findPages(
    tenantId: string,
    fingerprint: string,
    statuses: readonly PageStatus[],
  ): Promise<PageRecord[]> {
    if (statuses.length === 0) return [];
    const rows = this.oncall(findPagesSql(statuses.length), (s) =>
      s.all(tenantId, fingerprint, ...statuses),
    ) as PageRow[];
    return rows.map(toPageRecord);
  }

  async updatePage(page: PageRecord, expected: { status: PageStatus; level: number }): Promise<boolean> {
    return this.oncall(UPDATE_PAGE, (s) => s.run(...updatePageValues(page, expected))).changes > 0;
  }

  async duePages(now: number, limit: number): Promise<PageRecord[]> {
    const rows = this.oncall(DUE_PAGES, (s) => s.all(now, limit)) as PageRow[];
    return rows.map(toPageRecord);
  }

  // ---- Alerting: rules, silences, incidents ----

  async listAlertRules(): Promise<AlertRuleRecord[]> {
    const rows = this.runSql('SELECT * FROM alert_rules ORDER BY id', (st) => st.all()) as AlertRuleRow[];
    return rows.map(toAlertRuleRecord);
  }

  async putAlertRule(rule: { id: string } & Record<string, unknown>): Promise<void> {
    this.runSql(
      `INSERT INTO alert_rules (${ALERT_RULE_COLUMNS.join(', ')}) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at`,
      (st) => st.run(...alertRuleValues(rule, Date.now())),
    );
  }

  async deleteAlertRule(id: string): Promise<boolean> {
    return this.runSql('DELETE FROM alert_rules WHERE id = ?', (st) => st.run(id)).changes > 0;
  }

  async listSilences(activeAfter?: number): Promise<SilenceRecord[]> {
    const rows = (
      activeAfter === undefined
        ? this.runSql('SELECT * FROM alert_silences ORDER BY id DESC', (st) => st.all())
        : this.runSql('SELECT * FROM alert_silences WHERE ends_at > ? ORDER BY id DESC', (st) =>
            st.all(activeAfter),
          )
    ) as SilenceRow[];
    return rows.map(toSilenceRecord);
  }

  async getSilence(id: string): Promise<SilenceRecord | undefined> {
    const row = this.runSql('SELECT * FROM alert_silences WHERE id = ?', (st) => st.get(id)) as
      SilenceRow | undefined;
    return row && toSilenceRecord(row);
  }

  async putSilence(silence: SilenceRecord): Promise<void> {
    this.runSql(
      `INSERT INTO alert_silences (${SILENCE_COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at,
  ends_at = excluded.ends_at, comment = excluded.comment`,
      (st) => st.run(...silenceValues(silence)),
    );
  }

  async putIncidents(incidents: readonly IncidentRecord[]): Promise<void> {
    if (incidents.length === 0) return;
    // SET expressions read the stored row: an acknowledgement and a resolution, once stored, stay.
    const sql = `INSERT INTO alert_incidents (${INCIDENT_COLUMNS.join(', ')})
VALUES (${INCIDENT_COLUMNS.map(() => '?').join(', ')})
ON CONFLICT (id) DO UPDATE SET
  acked_by = CASE WHEN alert_incidents.acked_at IS NULL THEN excluded.acked_by ELSE alert_incidents.acked_by END,
  acked_at = COALESCE(alert_incidents.acked_at, excluded.acked_at),
  resolved_at = COALESCE(alert_incidents.resolved_at, excluded.resolved_at),
  fired_at = COALESCE(alert_incidents.fired_at, excluded.fired_at),
  state = CASE WHEN alert_incidents.state = 'resolved' THEN alert_incidents.state ELSE excluded.state END,
  severity = excluded.severity,
  labels = excluded.labels,
  detail = excluded.detail,
  updated_at = MAX(alert_incidents.updated_at, excluded.updated_at)`;
    this.run(() =>
      this.db.transaction(() => {
        for (const incident of incidents) this.runSql(sql, (st) => st.run(...incidentValues(incident)));
      })(),
    );
  }

  async listIncidents(filter: { open?: boolean; before?: string; limit: number }): Promise<IncidentRecord[]> {
    const params: unknown[] = [...(filter.before !== undefined ? [filter.before] : []), filter.limit];
    const rows = this.runSql(listIncidentsSql(filter), (st) => st.all(...params)) as IncidentRow[];
    return rows.map(toIncidentRecord);
  }

  async getIncident(id: string): Promise<IncidentRecord | undefined> {
    const row = this.runSql('SELECT * FROM alert_incidents WHERE id = ?', (st) => st.get(id)) as
      IncidentRow | undefined;
    return row && toIncidentRecord(row);
  }

  async acknowledgeIncident(idOrCode: string, by: string, at: number): Promise<IncidentRecord | undefined> {
    this.runSql(ACK_INCIDENT, (st) => st.run(by, at, at, idOrCode, idOrCode));
    const row = this.runSql(FIND_INCIDENT, (st) => st.get(idOrCode, idOrCode)) as IncidentRow | undefined;
    return row && toIncidentRecord(row);
  }

  async ping(): Promise<boolean> {
    try {
      this.db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** Statements are prepared on first use, which must come after migrate() created the tables. */
  private run<T>(fn: (statements: Statements) => T): T {
    try {
      this.statements ??= this.prepare();
      return fn(this.statements);
    } catch (err) {
      throw this.toStoreError(err);
    }
  }

  private prepare(): Statements {
    const upsertMessage = this.db.prepare(UPSERT_MESSAGE);
    const insertEvent = this.db.prepare(INSERT_EVENT);
    const upsertAttempt = this.db.prepare(UPSERT_ATTEMPT);
    return {
      upsertMessage,
      insertEvent,
      getMessage: this.db.prepare('SELECT * FROM messages WHERE id = ? AND tenant_id = ?'),
      listEvents: this.db.prepare(
        'SELECT * FROM message_events WHERE message_id = ? AND tenant_id = ? ORDER BY occurred_at, event_id',
      ),
      findApiKey: this.db.prepare('SELECT * FROM api_keys WHERE hash = ?'),
      putApiKey: this.db.prepare(INSERT_API_KEY),
      listProviders: this.db.prepare('SELECT * FROM providers ORDER BY name'),
      upsertProvider: this.db.prepare(UPSERT_PROVIDER),
      insertProvider: this.db.prepare(
        `INSERT INTO providers (${PROVIDER_COLUMNS.join(', ')}) VALUES ${placeholders(PROVIDER_COLUMNS)} ON CONFLICT DO NOTHING`,
      ),
      deleteProvider: this.db.prepare('DELETE FROM providers WHERE name = ?'),
      listRoutes: this.db.prepare('SELECT * FROM routes ORDER BY priority, id'),
      upsertRoute: this.db.prepare(UPSERT_ROUTE),
      insertRoute: this.db.prepare(
        `INSERT INTO routes (${ROUTE_COLUMNS.join(', ')}) VALUES ${placeholders(ROUTE_COLUMNS)} ON CONFLICT DO NOTHING`,
      ),
      deleteRoute: this.db.prepare('DELETE FROM routes WHERE id = ?'),
      routingVersion: this.db.prepare(ROUTING_VERSION),
      writeBatch: this.db.transaction((batch: WriteBatch) => {
        for (const patch of batch.messages) upsertMessage.run(...patchValues(patch));
        for (const event of batch.events) insertEvent.run(...eventValues(event));
        for (const attempt of batch.attempts ?? []) upsertAttempt.run(...attemptValues(attempt));
      }),
    };
  }

  private toStoreError(err: unknown): unknown {
    if (err instanceof PigeonError) return err;
    const code = (err as { code?: unknown } | null)?.code;
    const lost = typeof code === 'string' && SQLITE_UNAVAILABLE.some((c) => code.startsWith(c));
    // Some failures (a closed handle, a file that cannot be opened) leave no usable connection.
    if (lost || this.db === undefined || !this.db.open) {
      const detail = err instanceof Error ? err.message : String(err);
      return new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE', `SQLite store unavailable: ${detail}`, {
        cause: err,
      });
    }
    if (typeof code === 'string' && SQLITE_REJECTED.includes(code)) {
      const detail = err instanceof Error ? err.message : String(err);
      return new PigeonError('PIGEON_ERR_STORE_REJECTED', `SQLite refused the data: ${detail}`, {
        cause: err,
      });
    }
    return err;
  }
}
