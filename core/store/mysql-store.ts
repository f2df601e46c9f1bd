import mysql from 'mysql2/promise';
import { PigeonError } from '../errors.ts';
import { type MigrationConnection, runMigrations } from './migrator.ts';
import { PLAIN_SECRETS, type SecretSealer } from './secret-sealer.ts';
import { MYSQL_DIALECT } from './sql/dialect.ts';
import type { SqlRunner, SqlStatement } from './sql/runner.ts';
import { SqlStore } from './sql/sql-store.ts';

export interface MysqlStoreOptions {
  connectionLimit?: number;
  /** How long to wait for a server to accept a connection; small so a dead database fails fast. */
  connectTimeoutMs?: number;
  /** How long ping() waits for an answer before reporting the database down. */
  pingTimeoutMs?: number;
  /** Seals provider credentials and webhook secrets at rest; without it they are stored as given. */
  secrets?: SecretSealer;
}

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

/** Statements over a mysql2 pool; a transaction takes one connection for its statements. */
class MysqlRunner implements SqlRunner {
  constructor(private readonly pool: mysql.Pool) {}

  async query<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    try {
      const [rows] = await this.pool.query(sql, [...params]);
      return rows as T[];
    } catch (err) {
      throw toStoreError(err);
    }
  }

  async execute(sql: string, params: readonly unknown[]): Promise<number> {
    try {
      const [result] = await this.pool.query<mysql.ResultSetHeader>(sql, [...params]);
      return result.affectedRows;
    } catch (err) {
      throw toStoreError(err);
    }
  }

  async insert(sql: string, params: readonly unknown[]): Promise<boolean> {
    try {
      await this.pool.query(sql, [...params]);
      return true;
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === 'ER_DUP_ENTRY') return false;
      throw toStoreError(err);
    }
  }

  async transaction(statements: readonly SqlStatement[]): Promise<void> {
    await this.withConnection(async (conn) => {
      await conn.beginTransaction();
      try {
        for (const statement of statements) await conn.query(statement.sql, [...statement.params]);
        await conn.commit();
      } catch (err) {
        await conn.rollback().catch(() => undefined);
        throw err;
      }
    });
  }

  /** Runs fn on one pooled connection; a connection that failed is dropped, not handed out again. */
  async withConnection<T>(fn: (conn: mysql.PoolConnection) => Promise<T>): Promise<T> {
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

/** The production store: MySQL protocol (TiDB in production, MariaDB in tests) through a pool. */
export class MysqlStore extends SqlStore {
  private readonly pool: mysql.Pool;
  private readonly runner: MysqlRunner;
  private readonly pingTimeoutMs: number;

  constructor(url: string, options: MysqlStoreOptions = {}) {
    const pool = mysql.createPool({
      uri: url,
      connectionLimit: options.connectionLimit ?? 10,
      connectTimeout: options.connectTimeoutMs ?? 3000,
      decimalNumbers: true,
      charset: 'utf8mb4',
      enableKeepAlive: true,
      // mysql2 otherwise captures a stack trace for every query, to graft onto an error that
      // seldom comes: a few % of the persister's CPU. Errors keep their message, code and errno,
      // and the store's own error (PigeonError, with the driver's as its cause) has its stack.
      trace: false,
    });
    const runner = new MysqlRunner(pool);
    super(runner, MYSQL_DIALECT, options.secrets ?? PLAIN_SECRETS);
    this.pool = pool;
    this.runner = runner;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 2000;
  }

  async migrate(): Promise<void> {
    await this.runner.withConnection(async (conn) => {
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
}
