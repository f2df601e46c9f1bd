import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PigeonError } from '../errors.ts';

export type Dialect = 'mysql' | 'sqlite';

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/**
 * The few calls the migrator makes, all over ONE connection: a MySQL named lock belongs to the
 * session that took it, so a pool that hands out a different connection per call would not do.
 */
export interface MigrationConnection {
  execute(sql: string, params?: readonly unknown[]): Promise<void>;
  query<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export const MIGRATION_LOCK = 'pigeon_migrate';
export const MIGRATION_LOCK_TIMEOUT_SECONDS = 30;

const FILE_NAME = /^(\d+)_([\w-]+)\.sql$/;

const SCHEMA_MIGRATIONS_DDL: Record<Dialect, string> = {
  mysql: `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT NOT NULL,
  name VARCHAR(255) NOT NULL,
  applied_at BIGINT NOT NULL,
  PRIMARY KEY (version)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin`,
  sqlite: `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`,
};

/**
 * The folder holding a dialect's `.sql` files. Next to this module when running from source (or
 * when the build copied the folder into dist/); tsc copies no `.sql`, so a build running from
 * dist/core/store/ falls back to the source tree three levels up.
 */
export function migrationsDir(dialect: Dialect): string {
  const candidates = [
    fileURLToPath(new URL(`./migrations/${dialect}/`, import.meta.url)),
    fileURLToPath(new URL(`../../../core/store/migrations/${dialect}/`, import.meta.url)),
  ];
  const found = candidates.find((dir) => existsSync(dir));
  if (!found) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `No ${dialect} migrations folder; looked in ${candidates.join(', ')}`,
    );
  }
  return found;
}

/**
 * Splits a migration file into statements on a `;` that ends a line, which is all the files need
 * (no procedures or triggers); full-line `--` comments are dropped first so a `;` in one is harmless.
 */
export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split(/\r?\n/)
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;[ \t]*(?:\n|$)/)
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

/** The dialect's migrations, ordered by version. */
export function loadMigrations(dialect: Dialect, dir: string = migrationsDir(dialect)): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir)) {
    const match = FILE_NAME.exec(file);
    if (!match) continue;
    migrations.push({
      version: Number(match[1]),
      name: match[2]!,
      statements: splitStatements(readFileSync(join(dir, file), 'utf8')),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new PigeonError(
        'PIGEON_ERR_CONFIG',
        `Two ${dialect} migrations share version ${migrations[i]!.version}`,
      );
    }
  }
  return migrations;
}

/**
 * Applies, in order, the migrations not yet recorded in `schema_migrations`, and returns those it
 * applied. Several processes may start at once: on MySQL they queue on a named lock; on SQLite on
 * the write lock of an immediate transaction. Applied versions are read only once the lock is held,
 * so a process that waited finds the work done. MySQL commits DDL implicitly, so a file that fails
 * half-way is not rolled back; `IF NOT EXISTS` lets the next run finish it.
 */
export async function runMigrations(
  conn: MigrationConnection,
  dialect: Dialect,
  migrations: readonly Migration[] = loadMigrations(dialect),
  now: () => number = Date.now,
): Promise<Migration[]> {
  await lock(conn, dialect);
  let ok = false;
  try {
    await conn.execute(SCHEMA_MIGRATIONS_DDL[dialect]);
    const rows = await conn.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((row) => Number(row.version)));
    const pending = migrations.filter((m) => !applied.has(m.version));
    for (const migration of pending) {
      for (const statement of migration.statements) await conn.execute(statement);
      await conn.execute('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        migration.version,
        migration.name,
        now(),
      ]);
    }
    ok = true;
    return pending;
  } finally {
    await unlock(conn, dialect, ok);
  }
}

async function lock(conn: MigrationConnection, dialect: Dialect): Promise<void> {
  if (dialect === 'sqlite') {
    await conn.execute('BEGIN IMMEDIATE');
    return;
  }
  const [row] = await conn.query<{ acquired: number | null }>('SELECT GET_LOCK(?, ?) AS acquired', [
    MIGRATION_LOCK,
    MIGRATION_LOCK_TIMEOUT_SECONDS,
  ]);
  if (Number(row?.acquired) !== 1) {
    throw new PigeonError(
      'PIGEON_ERR_STORE_UNAVAILABLE',
      `Waited ${MIGRATION_LOCK_TIMEOUT_SECONDS} s for the migration lock held by another process`,
    );
  }
}

async function unlock(conn: MigrationConnection, dialect: Dialect, ok: boolean): Promise<void> {
  if (dialect === 'sqlite') {
    if (ok) await conn.execute('COMMIT');
    // SQLite rolls back by itself on some errors (busy, I/O), after which ROLLBACK fails too;
    // the original error is the one worth reporting.
    else await conn.execute('ROLLBACK').catch(() => undefined);
    return;
  }
  // A failure here must not hide the error that got us here; the server drops the lock with the
  // session anyway, and a lost connection is the usual reason RELEASE_LOCK fails.
  await conn.query('SELECT RELEASE_LOCK(?)', [MIGRATION_LOCK]).catch(() => undefined);
}
