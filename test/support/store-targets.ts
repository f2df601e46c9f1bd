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
