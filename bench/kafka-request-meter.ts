/**
 * Kafka requests per delivered message, by process and API, read from the files
 * bench/kafka-requests.ts keeps in each service process the benches start. Sampled at both ends of
 * a measured window, like the CPU meter.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { countsDir } from './counts-file.ts';

const DIR = countsDir('pigeon-kafka-requests-');
const PRELOAD = resolve(import.meta.dirname, 'kafka-requests.ts');

/** Environment for a child process whose Kafka requests are to be counted; merges NODE_OPTIONS. */
export function kafkaRequestCountingEnv(nodeOptions?: string): Record<string, string> {
  return {
    BENCH_KAFKA_REQUESTS_DIR: DIR,
    NODE_OPTIONS: [nodeOptions ?? process.env.NODE_OPTIONS ?? '', `--import ${PRELOAD}`].join(' ').trim(),
  };
}

type Counts = Record<string, number>;

function readAll(): Map<number, { ppid: number; counts: Counts }> {
  const files = new Map<number, { ppid: number; counts: Counts }>();
  for (const name of readdirSync(DIR)) {
    try {
      files.set(Number(name.replace('.json', '')), JSON.parse(readFileSync(join(DIR, name), 'utf8')));
    } catch {
      // Caught mid-write: the next sample has it.
    }
  }
  return files;
}

/** Each named process's counts, its direct children's (cluster workers) included. */
function byProcess(pids: Record<string, number | undefined>): Map<string, Counts> {
  const files = readAll();
  const result = new Map<string, Counts>();
  for (const [name, pid] of Object.entries(pids)) {
    const sum: Counts = {};
    for (const [filePid, { ppid, counts }] of files) {
      if (filePid !== pid && ppid !== pid) continue;
      for (const [api, n] of Object.entries(counts)) sum[api] = (sum[api] ?? 0) + n;
    }
    result.set(name, sum);
  }
  return result;
}

export class KafkaRequestMeter {
  private before = new Map<string, Counts>();

  constructor(private readonly pids: Record<string, number | undefined>) {}

  start(): void {
    this.before = byProcess(this.pids);
  }

  /** Requests per message by process and API, with `total`; processes that sent none are left out. */
  async stop(messages: number): Promise<Record<string, Counts>> {
    // The files are rewritten every second.
    await new Promise((r) => setTimeout(r, 1_100));
    const after = byProcess(this.pids);
    const result: Record<string, Counts> = {};
    for (const [name, counts] of after) {
      const was = this.before.get(name) ?? {};
      const row: Counts = {};
      let total = 0;
      for (const [api, n] of Object.entries(counts)) {
        const delta = n - (was[api] ?? 0);
        if (delta <= 0) continue;
        row[api] = Math.round((delta / messages) * 1000) / 1000;
        total += delta;
      }
      if (total === 0) continue;
      row.total = Math.round((total / messages) * 1000) / 1000;
      result[name] = row;
    }
    return result;
  }
}

/** A markdown table of requests per message: one row per process, one column per API. */
export function formatKafkaRequestTable(title: string, rows: Record<string, Counts>): string {
  const apis = [...new Set(Object.values(rows).flatMap((r) => Object.keys(r)))].filter((a) => a !== 'total');
  apis.sort();
  const header = `| process | ${apis.join(' | ')} | total |`;
  const rule = `|---|${apis.map(() => '---').join('|')}|---|`;
  const lines = Object.entries(rows).map(
    ([name, r]) => `| ${name} | ${apis.map((a) => r[a] ?? 0).join(' | ')} | ${r.total ?? 0} |`,
  );
  return [`${title} (Kafka requests per delivered message)`, '', header, rule, ...lines].join('\n');
}
