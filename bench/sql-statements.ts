/**
 * Preloaded into the benches' processes (NODE_OPTIONS `--import`, set by bench/pipelines.ts) when
 * BENCH_SQL_STATEMENTS_DIR is set: counts the statements every mysql2 connection of the process
 * sends, by kind (verb, table and the statement's shape with its values taken out), and the rows
 * its INSERTs carry, from mysql2's own diagnostics channel, and keeps `<dir>/<pid>.json` up to
 * date. MariaDB's CPU per message follows statements, rows and the indexes they touch; this shows
 * which statements a pipeline sends per message.
 * It runs before tsx is registered, on Node's own type stripping: erasable syntax only.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { keepCountsFile } from './counts-file.ts';

/** `{ statements, rows }` by statement kind. */
const counts: Record<string, { statements: number; rows: number }> = {};

/** The statement's shape: values out, whitespace collapsed, multi-row VALUES lists folded into one. */
export function statementKind(sql: string): string {
  // An INSERT's kind is read from its head and one scan: the store's multi-row INSERTs spell out a
  // placeholder group per row and run to tens of kB, and normalising each of them as below cost
  // the persister 7 % of its CPU in bench:e2e, a load the bare pipeline's short `VALUES ?` did not carry.
  const insert = /^\s*INSERT INTO (\w+)/i.exec(sql);
  if (insert) {
    // A plain substring search: a case-blind regex over tens of kB was most of this function's cost.
    // Every statement the services and benches send spells its keywords in capitals.
    return `INSERT ${insert[1]}${sql.includes('ON DUPLICATE KEY UPDATE') ? ' … ON DUPLICATE KEY UPDATE' : ''}`;
  }
  const shape = sql
    .replace(/'(?:[^'\\]|\\.|'')*'/g, '?')
    .replace(/\b\d+(?:\.\d+)?\b/g, '?')
    .replace(/\bNULL\b/g, '?')
    .replace(/\s+/g, ' ')
    .replace(/\(\?(?:, ?\?)*\)(?:, ?\(\?(?:, ?\?)*\))+/g, '(…)')
    .replace(/\(\?(?:, ?\?)*\)/g, '(…)')
    .trim();
  return shape.length > 110 ? `${shape.slice(0, 110)}…` : shape;
}

/** Rows of an INSERT: its values over its column list. */
function insertRows(sql: string, values: unknown): number {
  const columns = /^\s*INSERT INTO \w+ \(([^)]*)\)/i.exec(sql);
  if (!columns || !Array.isArray(values)) return 0;
  return Math.round(values.length / columns[1]!.split(',').length);
}

let counting = false;

/** Counts this process's statements into `<dir>/<pid>.json` (once per process). */
export function countStatements(dir: string): void {
  if (counting) return;
  counting = true;
  tracingChannel<unknown, { query: string; values?: unknown }>('mysql2:query').subscribe({
    start(context) {
      const kind = statementKind(context.query);
      const entry = (counts[kind] ??= { statements: 0, rows: 0 });
      entry.statements++;
      entry.rows += insertRows(context.query, context.values);
    },
    end() {},
    asyncStart() {},
    asyncEnd() {},
    error() {},
  });
  keepCountsFile(dir, counts);
}

const dir = process.env.BENCH_SQL_STATEMENTS_DIR;
if (dir) countStatements(dir);
