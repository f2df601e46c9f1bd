import type { Dialect } from '../migrator.ts';

/**
 * What differs between the SQL of MySQL/TiDB/MariaDB and SQLite; the repositories in this folder
 * write every statement once and ask the dialect for these parts.
 */
export interface SqlDialect {
  readonly name: Dialect;
  /** The value an upsert's insert carried for `column`: `VALUES(c)` (MySQL) or `excluded.c` (SQLite). */
  readonly incoming: (column: string) => string;
  /** Scalar maximum and minimum of two values: GREATEST/LEAST (MySQL) or MAX/MIN (SQLite). */
  readonly greatest: string;
  readonly least: string;
  /** The type a CAST to text names. */
  readonly text: string;
  /**
   * The clause after an INSERT's VALUES that turns a duplicate key into these assignments. MySQL
   * evaluates them left to right, each seeing the columns already assigned; SQLite's all see the
   * stored row: the assignment lists are ordered to suit both. `key` is the conflict target SQLite
   * needs; MySQL's clause applies to a duplicate of any unique key.
   */
  readonly upsert: (key: readonly string[], assignments: string) => string;
  /**
   * The clause after an INSERT's VALUES that keeps the stored row on a duplicate key (of `key`, or
   * of any unique key when absent). Not INSERT IGNORE / INSERT OR IGNORE, which would also turn
   * data errors into warnings or drop rows that break a NOT NULL constraint without a word. MySQL
   * has no DO NOTHING: it assigns `noop` to itself.
   */
  readonly keepExisting: (noop: string, key?: readonly string[]) => string;
  /** Whole UTC days since the epoch of an epoch-milliseconds integer expression. */
  readonly dayOf: (expression: string) => string;
  /**
   * A DELETE of at most `?` (the last parameter) rows of `table` matching `where`, in `orderBy`
   * order when given.
   */
  readonly deleteLimited: (table: string, where: string, orderBy?: string) => string;
  /**
   * Whether one INSERT carries many rows. MySQL: a multi-row INSERT is one round trip. SQLite runs
   * in process, so one prepared single-row statement, reused, is the fast way.
   */
  readonly multiRowInsert: boolean;
}

export const MYSQL_DIALECT: SqlDialect = {
  name: 'mysql',
  // VALUES(col) rather than the `AS new` row alias: MariaDB and TiDB only know the former.
  incoming: (column) => `VALUES(${column})`,
  greatest: 'GREATEST',
  least: 'LEAST',
  text: 'CHAR',
  upsert: (_key, assignments) => `ON DUPLICATE KEY UPDATE\n${assignments}`,
  keepExisting: (noop) => `ON DUPLICATE KEY UPDATE ${noop} = ${noop}`,
  dayOf: (expression) => `(${expression} DIV 86400000)`,
  deleteLimited: (table, where, orderBy) =>
    `DELETE FROM ${table} WHERE ${where}${orderBy ? ` ORDER BY ${orderBy}` : ''} LIMIT ?`,
  multiRowInsert: true,
};

export const SQLITE_DIALECT: SqlDialect = {
  name: 'sqlite',
  incoming: (column) => `excluded.${column}`,
  greatest: 'MAX',
  least: 'MIN',
  text: 'TEXT',
  upsert: (key, assignments) => `ON CONFLICT (${key.join(', ')}) DO UPDATE SET\n${assignments}`,
  keepExisting: (_noop, key) =>
    key ? `ON CONFLICT (${key.join(', ')}) DO NOTHING` : 'ON CONFLICT DO NOTHING',
  // Integer division of INTEGER columns.
  dayOf: (expression) => `(${expression} / 86400000)`,
  // DELETE … LIMIT needs a compile-time option SQLite builds may lack; a rowid subquery does not.
  deleteLimited: (table, where, orderBy) => `DELETE FROM ${table} WHERE rowid IN (
  SELECT rowid FROM ${table} WHERE ${where}${orderBy ? ` ORDER BY ${orderBy}` : ''} LIMIT ?)`,
  multiRowInsert: false,
};

/** `rows` in groups of at most `size` (one group per row when the dialect inserts one at a time). */
export function insertGroups<T>(dialect: SqlDialect, rows: readonly T[], size = Infinity): T[][] {
  const step = dialect.multiRowInsert ? size : 1;
  const groups: T[][] = [];
  for (let i = 0; i < rows.length; i += step) groups.push(rows.slice(i, i + step));
  return groups;
}

/**
 * A statement builder for `rows` rows that builds the one-row statement once: SQLite runs only
 * that one, row after row, and its prepared statements are looked up by their text.
 */
export function oneRowOnce(build: (rows: number) => string): (rows: number) => string {
  const one = build(1);
  return (rows) => (rows === 1 ? one : build(rows));
}
