import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PigeonError } from '../errors.ts';
import { type MigrationConnection, runMigrations } from './migrator.ts';
import { PLAIN_SECRETS, type SecretSealer } from './secret-sealer.ts';
import { SQLITE_DIALECT } from './sql/dialect.ts';
import type { SqlRunner, SqlStatement } from './sql/runner.ts';
import { SqlStore } from './sql/sql-store.ts';

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

/** What a duplicate key raises; SqlRunner.insert() resolves false on it. */
const SQLITE_DUPLICATE = ['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE'];

let inProcessMigration: Promise<unknown> = Promise.resolve();

/**
 * Statements over one better-sqlite3 connection. They run synchronously, so a transaction cannot
 * interleave with anything else on the connection. Each statement is prepared on first use (which
 * must come after migrate() created the tables) and kept: the SQL a listing or a claim runs varies
 * with its filters and list lengths, within bounds.
 */
class SqliteRunner implements SqlRunner {
  private readonly prepared = new Map<string, Statement>();

  constructor(
    private readonly db: Database,
    private readonly toStoreError: (err: unknown) => unknown,
  ) {}

  async query<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    return this.run(() => this.statement(sql).all(...params) as T[]);
  }

  async execute(sql: string, params: readonly unknown[]): Promise<number> {
    return this.run(() => this.statement(sql).run(...params).changes);
  }

  async insert(sql: string, params: readonly unknown[]): Promise<boolean> {
    try {
      this.statement(sql).run(...params);
      return true;
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && SQLITE_DUPLICATE.includes(code)) return false;
      throw this.toStoreError(err);
    }
  }

  async transaction(statements: readonly SqlStatement[]): Promise<void> {
    this.run(() =>
      this.db.transaction(() => {
        for (const statement of statements) this.statement(statement.sql).run(...statement.params);
      })(),
    );
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.toStoreError(err);
    }
  }

  private statement(sql: string): Statement {
    let statement = this.prepared.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.prepared.set(sql, statement);
    }
    return statement;
  }
}

/** The embedded-mode store: one SQLite file, WAL journal, one connection per process. */
export class SqliteStore extends SqlStore {
  private readonly db: Database;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    let db: Database | undefined;
    try {
      ownerOnly(path);
      db = new BetterSqlite3(path, { timeout: busyTimeoutMs });
      // WAL lets readers run beside the writer; NORMAL skips the fsync per commit, which WAL makes
      // safe against corruption (a power cut may lose the last commits, never the file).
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    } catch (err) {
      throw toStoreError(err, db);
    }
    const opened = db;
    super(
      new SqliteRunner(opened, (err) => toStoreError(err, opened)),
      SQLITE_DIALECT,
      options.secrets ?? PLAIN_SECRETS,
    );
    this.db = opened;
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
      throw toStoreError(err, this.db);
    }
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
}

/**
 * Makes the database file readable by its owner alone, like the key files beside it: it holds
 * message bodies, numbers and API key hashes. SQLite gives the -wal and -shm files it creates the
 * database file's mode, so creating the file 0600 before SQLite opens it covers all three; files
 * an earlier version left 0644 are tightened.
 */
function ownerOnly(path: string): void {
  if (path === '' || path === ':memory:' || path.startsWith('file:')) return;
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}

function toStoreError(err: unknown, db: Database | undefined): unknown {
  if (err instanceof PigeonError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const lost = typeof code === 'string' && SQLITE_UNAVAILABLE.some((c) => code.startsWith(c));
  // Some failures (a closed handle, a file that cannot be opened) leave no usable connection.
  if (lost || db === undefined || !db.open) {
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
