/**
 * MariaDB statements per delivered message, by process and statement kind, read from the files
 * bench/sql-statements.ts keeps in each process the benches start (and in the bench process
 * itself, the load generator that polls for delivery). Sampled at both ends of a measured window,
 * like the CPU meter. Beside them, the server's own row and commit counters (SHOW GLOBAL STATUS),
 * which count every client of the server: on a shared machine they include others' work.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import { countsDir } from './counts-file.ts';
import { countStatements } from './sql-statements.ts';

const DIR = countsDir('pigeon-sql-statements-');
const PRELOAD = resolve(import.meta.dirname, 'sql-statements.ts');

/** Environment for a child process whose statements are to be counted; NODE_OPTIONS to add to. */
export function sqlStatementCountingEnv(nodeOptions: string): Record<string, string> {
  return { BENCH_SQL_STATEMENTS_DIR: DIR, NODE_OPTIONS: `${nodeOptions} --import ${PRELOAD}`.trim() };
}

// The load generator's own statements (its delivery polls) are counted too.
countStatements(DIR);

type Counts = Record<string, { statements: number; rows: number }>;

function byProcess(pids: Record<string, number | undefined>): Map<string, Counts> {
  const files = new Map<number, { ppid: number; counts: Counts }>();
  for (const name of readdirSync(DIR)) {
    try {
      files.set(Number(name.replace('.json', '')), JSON.parse(readFileSync(join(DIR, name), 'utf8')));
    } catch {
      // Caught mid-write: the next sample has it.
    }
  }
  const result = new Map<string, Counts>();
  for (const [name, pid] of Object.entries(pids)) {
    const sum: Counts = {};
    for (const [filePid, { ppid, counts }] of files) {
      // The load generator is this process: its children are the services, on rows of their own.
      if (filePid !== pid && (ppid !== pid || pid === process.pid)) continue;
      for (const [kind, c] of Object.entries(counts)) {
        const s = (sum[kind] ??= { statements: 0, rows: 0 });
        s.statements += c.statements;
        s.rows += c.rows;
      }
    }
    result.set(name, sum);
  }
  return result;
}

/** Server counters whose difference over the window is shown per message. */
const SERVER_COUNTERS = [
  'Questions',
  'Com_select',
  'Com_insert',
  'Com_update',
  'Com_delete',
  'Com_commit',
  'Innodb_rows_read',
  'Innodb_rows_inserted',
  'Innodb_rows_updated',
  'Handler_read_key',
  'Handler_read_next',
  'Handler_read_rnd_next',
  'Handler_write',
  'Handler_update',
  'Innodb_data_fsyncs',
];

async function serverStatus(url: string): Promise<Record<string, number>> {
  const conn = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await conn.query('SHOW GLOBAL STATUS');
    const wanted = new Set(SERVER_COUNTERS);
    return Object.fromEntries(
      (rows as Array<{ Variable_name: string; Value: string }>)
        .filter((r) => wanted.has(r.Variable_name))
        .map((r) => [r.Variable_name, Number(r.Value)]),
    );
  } finally {
    await conn.end();
  }
}

export interface SqlStatementFigures {
  /** Per process: statements (and INSERT rows) per message by kind, with `total`. */
  statements: Record<string, Record<string, { statements: number; rows: number }>>;
  /** The server's counters per message over the window (every client's). */
  server: Record<string, number>;
}

const perMessage = (n: number, messages: number) => Math.round((n / messages) * 1000) / 1000;

export class SqlStatementMeter {
  private before = new Map<string, Counts>();
  private serverBefore: Record<string, number> = {};

  constructor(
    private readonly pids: Record<string, number | undefined>,
    private readonly mysqlUrl: string,
  ) {}

  async start(): Promise<void> {
    this.before = byProcess(this.pids);
    this.serverBefore = await serverStatus(this.mysqlUrl);
  }

  async stop(messages: number): Promise<SqlStatementFigures> {
    const serverAfter = await serverStatus(this.mysqlUrl);
    // The files are rewritten every second.
    await new Promise((r) => setTimeout(r, 1_100));
    const after = byProcess(this.pids);
    const statements: SqlStatementFigures['statements'] = {};
    for (const [name, counts] of after) {
      const was = this.before.get(name) ?? {};
      const row: Record<string, { statements: number; rows: number }> = {};
      let total = 0;
      for (const [kind, c] of Object.entries(counts)) {
        const n = c.statements - (was[kind]?.statements ?? 0);
        if (n <= 0) continue;
        row[kind] = {
          statements: perMessage(n, messages),
          rows: perMessage(c.rows - (was[kind]?.rows ?? 0), messages),
        };
        total += n;
      }
      if (total === 0) continue;
      row.total = { statements: perMessage(total, messages), rows: 0 };
      statements[name] = row;
    }
    const server = Object.fromEntries(
      SERVER_COUNTERS.filter((c) => c in serverAfter).map((c) => [
        c,
        perMessage(serverAfter[c]! - (this.serverBefore[c] ?? 0), messages),
      ]),
    );
    return { statements, server };
  }
}

/** The statements table: one line per process and kind, most frequent first. */
export function formatSqlStatementTable(label: string, figures: SqlStatementFigures): string {
  const lines = [`MariaDB statements per delivered message — ${label} (INSERT rows in brackets)`];
  for (const [name, row] of Object.entries(figures.statements)) {
    lines.push(`  ${name}: ${row.total?.statements ?? 0} in all`);
    const kinds = Object.entries(row)
      .filter(([kind]) => kind !== 'total')
      .sort((a, b) => b[1].statements - a[1].statements);
    for (const [kind, c] of kinds)
      lines.push(`    ${String(c.statements).padStart(8)}${c.rows ? ` [${c.rows}]` : ''}  ${kind}`);
  }
  lines.push(
    `  server counters per message (every client of the server): ${Object.entries(figures.server)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  return lines.join('\n');
}
