import mysql from 'mysql2/promise';
import { PigeonError } from '../errors.ts';
import { type MigrationConnection, runMigrations } from './migrator.ts';
import {
  API_KEY_COLUMNS,
  type ApiKeyRow,
  apiKeyValues,
  EARLIEST_COLUMNS,
  LARGEST_COLUMNS,
  EVENT_COLUMNS,
  type EventRow,
  eventValues,
  MESSAGE_COLUMNS,
  type MessageRow,
  OVERWRITE_COLUMNS,
  patchValues,
  placeholders,
  toApiKeyRecord,
  toEventRecord,
  toMessageRecord,
} from './rows.ts';
import type { ApiKeyRecord, MessageEventRecord, MessageRecord, Store, WriteBatch } from './store.ts';

export interface MysqlStoreOptions {
  connectionLimit?: number;
  /** How long to wait for a server to accept a connection; small so a dead database fails fast. */
  connectTimeoutMs?: number;
  /** How long ping() waits for an answer before reporting the database down. */
  pingTimeoutMs?: number;
}

const MESSAGE_ROW = placeholders(MESSAGE_COLUMNS);

// VALUES(col) rather than the `AS new` row alias: MariaDB and TiDB only know the former. MySQL
// evaluates these assignments left to right and a later one sees the columns already assigned,
// so `status` must be decided while `status_rank` still holds the stored rank. LEAST over the two
// COALESCEs keeps the earlier of two times, the only one when the other is NULL, NULL for neither.
const ON_DUPLICATE = `ON DUPLICATE KEY UPDATE
${[
  ...OVERWRITE_COLUMNS.map((c) =>
    LARGEST_COLUMNS.has(c)
      ? `  ${c} = GREATEST(COALESCE(${c}, VALUES(${c})), COALESCE(VALUES(${c}), ${c}))`
      : `  ${c} = COALESCE(VALUES(${c}), ${c})`,
  ),
  '  status = IF(VALUES(status_rank) > status_rank, VALUES(status), status)',
  '  status_rank = GREATEST(status_rank, VALUES(status_rank))',
  ...EARLIEST_COLUMNS.map(
    (c) => `  ${c} = LEAST(COALESCE(${c}, VALUES(${c})), COALESCE(VALUES(${c}), ${c}))`,
  ),
  '  updated_at = GREATEST(updated_at, VALUES(updated_at))',
].join(',\n')}`;

const EVENT_ROW = placeholders(EVENT_COLUMNS);

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

function toStoreError(err: unknown): unknown {
  if (err instanceof PigeonError || !isUnavailableError(err)) return err;
  const detail = err instanceof Error ? err.message || String((err as MysqlErrorLike).code) : String(err);
  return new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE', `MySQL store unavailable: ${detail}`, {
    cause: err,
  });
}

/** The production store: MySQL protocol (TiDB in production, MariaDB in tests) through a pool. */
export class MysqlStore implements Store {
  readonly kind = 'mysql' as const;
  private readonly pool: mysql.Pool;
  private readonly pingTimeoutMs: number;

  constructor(url: string, options: MysqlStoreOptions = {}) {
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2000;
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
    if (batch.messages.length === 0 && batch.events.length === 0) return;
    // Taking row locks in id order keeps two persisters writing overlapping batches from
    // deadlocking; the sort is stable, so patches for one id keep their relative order.
    const patches = [...batch.messages].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
        if (batch.events.length > 0) {
          // Not INSERT IGNORE: besides duplicates it turns data errors into warnings and truncates.
          await conn.query(
            `INSERT INTO message_events (${EVENT_COLUMNS.join(', ')})
VALUES ${batch.events.map(() => EVENT_ROW).join(', ')}
ON DUPLICATE KEY UPDATE event_id = event_id`,
            batch.events.flatMap(eventValues),
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
