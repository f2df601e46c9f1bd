/** One SQL statement with its positional (`?`) parameters. */
export interface SqlStatement {
  sql: string;
  params: readonly unknown[];
}

/**
 * How the per-kind repositories reach a database: the mysql2 pool (async) or the better-sqlite3
 * connection (sync, wrapped). Every method rejects with the store's PigeonErrors
 * (`PIGEON_ERR_STORE_UNAVAILABLE`, `PIGEON_ERR_STORE_REJECTED`) where the driver's error is one.
 */
export interface SqlRunner {
  /** The rows a SELECT returns. */
  query<T>(sql: string, params: readonly unknown[]): Promise<T[]>;
  /**
   * Runs a write; resolves the rows it affected. MySQL counts the rows a WHERE found (mysql2 asks
   * for found rows), SQLite the rows it changed: the same for every write the store makes.
   */
  execute(sql: string, params: readonly unknown[]): Promise<number>;
  /**
   * Runs an INSERT; resolves false when it failed on a duplicate key (a plain INSERT whose key was
   * taken) rather than rejecting.
   */
  insert(sql: string, params: readonly unknown[]): Promise<boolean>;
  /** Runs the statements in order in one transaction: all of them or none. */
  transaction(statements: readonly SqlStatement[]): Promise<void>;
}
