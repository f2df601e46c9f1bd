import { createRequire } from 'node:module';
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
}

// In an upsert's DO UPDATE every right-hand side sees the stored row as it was, so the order of
// the assignments does not matter here (unlike MySQL). MIN over the two COALESCEs keeps the
// earlier of two times, the only one when the other is NULL, and NULL when both are.
const UPSERT_MESSAGE = `INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')})
VALUES ${placeholders(MESSAGE_COLUMNS)}
ON CONFLICT (id) DO UPDATE SET
${[
  ...OVERWRITE_COLUMNS.map((c) =>
    LARGEST_COLUMNS.has(c)
      ? `  ${c} = MAX(COALESCE(${c}, excluded.${c}), COALESCE(excluded.${c}, ${c}))`
      : `  ${c} = COALESCE(excluded.${c}, ${c})`,
  ),
  '  status = CASE WHEN excluded.status_rank > status_rank THEN excluded.status ELSE status END',
  '  status_rank = MAX(status_rank, excluded.status_rank)',
  ...EARLIEST_COLUMNS.map(
    (c) => `  ${c} = MIN(COALESCE(${c}, excluded.${c}), COALESCE(excluded.${c}, ${c}))`,
  ),
  '  updated_at = MAX(updated_at, excluded.updated_at)',
].join(',\n')}`;

// DO NOTHING on the event id only, not INSERT OR IGNORE, which would also drop rows that break a
// NOT NULL constraint without a word.
const INSERT_EVENT = `INSERT INTO message_events (${EVENT_COLUMNS.join(', ')})
VALUES ${placeholders(EVENT_COLUMNS)}
ON CONFLICT (event_id) DO NOTHING`;

const INSERT_API_KEY = `INSERT INTO api_keys (${API_KEY_COLUMNS.join(', ')})
VALUES ${placeholders(API_KEY_COLUMNS)}
ON CONFLICT DO NOTHING`;

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

let inProcessMigration: Promise<unknown> = Promise.resolve();

interface Statements {
  upsertMessage: Statement;
  insertEvent: Statement;
  getMessage: Statement;
  listEvents: Statement;
  findApiKey: Statement;
  putApiKey: Statement;
  writeBatch: (batch: WriteBatch) => void;
}

/** The embedded-mode store: one SQLite file, WAL journal, one connection per process. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database;
  private statements: Statements | undefined;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
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

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const row = this.run((s) => s.findApiKey.get(hash)) as ApiKeyRow | undefined;
    return row && toApiKeyRecord(row);
  }

  async putApiKey(key: ApiKeyRecord): Promise<void> {
    this.run((s) => s.putApiKey.run(...apiKeyValues(key)));
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
    return {
      upsertMessage,
      insertEvent,
      getMessage: this.db.prepare('SELECT * FROM messages WHERE id = ? AND tenant_id = ?'),
      listEvents: this.db.prepare(
        'SELECT * FROM message_events WHERE message_id = ? AND tenant_id = ? ORDER BY occurred_at, event_id',
      ),
      findApiKey: this.db.prepare('SELECT * FROM api_keys WHERE hash = ?'),
      putApiKey: this.db.prepare(INSERT_API_KEY),
      writeBatch: this.db.transaction((batch: WriteBatch) => {
        for (const patch of batch.messages) upsertMessage.run(...patchValues(patch));
        for (const event of batch.events) insertEvent.run(...eventValues(event));
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
    return err;
  }
}
