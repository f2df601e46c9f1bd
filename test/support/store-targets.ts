import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import type { Store } from '../../core/store/store.ts';
import { createTestDatabase } from './mysql.ts';

/** A fresh database for a Store contract suite. */
export interface StoreTarget {
  /** A new store over the target's database, with its own connection(s), as another process would. */
  open(): Store;
  dispose(): Promise<void>;
}

export type StoreContract = (name: string, makeTarget: () => Promise<StoreTarget>) => void;

/**
 * Runs a Store contract suite against both implementations, so embedded mode (SQLite) and
 * production (MySQL/TiDB, MariaDB here) cannot drift apart.
 */
export function againstEveryStore(contract: StoreContract): void {
  contract('sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pigeon-store-'));
    const file = join(dir, 'pigeon.db');
    return {
      open: () => new SqliteStore(file),
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });
  contract('mysql', async () => {
    const db = await createTestDatabase();
    return {
      open: () => new MysqlStore(db.url, { connectionLimit: 4 }),
      dispose: () => db.drop(),
    };
  });
}

/** A suite's store over a fresh target, opened and migrated, and the target it is over. */
export interface MigratedStore {
  store: Store;
  target: StoreTarget;
}

/**
 * Registers the suite's `before` and `after` hooks: a fresh target and a migrated store over it
 * before the tests, handed to `use`; the store closed and the target disposed of after them.
 */
export function migratedStore(
  makeTarget: () => Promise<StoreTarget>,
  use: (opened: MigratedStore) => void,
): void {
  let target: StoreTarget | undefined;
  let store: Store | undefined;
  before(async () => {
    target = await makeTarget();
    store = target.open();
    await store.migrate();
    use({ store, target });
  });
  after(async () => {
    await store?.close();
    await target?.dispose();
  });
}
