/**
 * Every bench in sequence against one broker (`npm run bench` wraps this in bench/with-kafka.sh),
 * each as a child process so none inherits another's memory or connections. Writes
 * bench/results/<YYYY-MM-DD>-<shortcommit>.json — the machine (CPU count and model, memory), the
 * versions (node, Kafka, MariaDB, Redis) and each bench's JSON line — and prints the goal table of
 * issue #13 as markdown, ready for docs/performance.md.
 *
 *   npm run bench                 # full sizes, about 20 minutes on two cores
 *   BENCH_QUICK=1 npm run bench   # everything small, to check the benches work (a few minutes)
 *   BENCH_ONLY=e2e-delivery,bridge …   # a subset, by file name
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { TEST_KAFKA_BROKERS, TEST_MYSQL_URL, TEST_REDIS_URL } from '../test/support/infra.ts';
import { pidListeningOn } from './cpu.ts';
import { freshBenchCache } from './fresh-cache.ts';
import { BENCH_QUICK, benchChildNodeOptions } from './support.ts';
import { type BenchLine, goalTable } from './goals.ts';

const BENCHES = ['api-accept', 'otp', 'bridge', 'persister', 'e2e-delivery', 'idle', 'bulk', 'scale', 'soak'];

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Runs one bench, passing its output through, and resolves with its last JSON line. */
function runBench(
  name: string,
): Promise<{ line: BenchLine | undefined; code: number | null; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', `bench/${name}.ts`], {
    env: { ...process.env, NODE_OPTIONS: benchChildNodeOptions() },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    process.stderr.write(chunk);
  });
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const json = out
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{"bench"'));
      resolve({
        line: json ? (JSON.parse(json) as BenchLine) : undefined,
        code,
        seconds: Math.round((performance.now() - started) / 1000),
      });
    });
  });
}

async function versions(): Promise<Record<string, string>> {
  const found: Record<string, string> = { node: process.version };
  const port = Number(TEST_KAFKA_BROKERS[0]?.split(':').pop());
  const broker = pidListeningOn(port);
  if (broker) {
    // The classpath names the jars, or directories of them (`libs/*`).
    const words = readFileSync(`/proc/${broker}/cmdline`, 'utf8').split(/[\0:]/);
    const jars = words.flatMap((word) => {
      if (!word.endsWith('/*')) return [word];
      try {
        return readdirSync(word.slice(0, -2));
      } catch {
        return [];
      }
    });
    found.kafka =
      jars.map((jar) => /kafka_[\d.]+-([\w.-]+?)\.jar$/.exec(jar)?.[1]).find(Boolean) ?? 'unknown';
  } else found.kafka = 'unknown (broker not on this machine)';
  try {
    const conn = await mysql.createConnection({ uri: TEST_MYSQL_URL });
    const [rows] = await conn.query('SELECT VERSION() v');
    found.mariadb = String((rows as Array<{ v: string }>)[0]?.v);
    await conn.end();
  } catch (err) {
    found.mariadb = `unknown (${(err as Error).message})`;
  }
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  try {
    await redis.connect();
    found.redis = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } catch (err) {
    found.redis = `unknown (${(err as Error).message})`;
  } finally {
    redis.disconnect();
  }
  return found;
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const selected = only ? BENCHES.filter((b) => only.includes(b)) : BENCHES;
  const results: Record<string, BenchLine | { error: string }> = {};
  const durations: Record<string, number> = {};
  let failed = false;
  for (const name of selected) {
    log(`\n=== bench/${name}.ts${BENCH_QUICK ? ' (quick)' : ''} ===`);
    // Each bench starts on an empty cache, as the first one does: none pays for the keys of those before.
    await freshBenchCache();
    const { line, code, seconds } = await runBench(name);
    durations[name] = seconds;
    if (line && code === 0) results[name] = line;
    else {
      failed = true;
      results[name] = line ?? { error: `exited with ${code} without a result line` };
      if (line) log(`bench/${name}.ts exited with ${code}: its figures are kept, marked failed`);
      if (line) (results[name] as BenchLine).failed = true;
    }
  }
  const commit = gitCommit();
  const date = new Date().toISOString().slice(0, 10);
  const cpuList = cpus();
  const report = {
    date: new Date().toISOString(),
    commit,
    quick: BENCH_QUICK,
    machine: {
      cpus: cpuList.length,
      cpu_model: cpuList[0]?.model ?? 'unknown',
      memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    },
    versions: await versions(),
    durations_s: durations,
    results,
  };
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${date}-${commit}${BENCH_QUICK ? '-quick' : ''}.json`;
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  const table = goalTable(results);
  process.stdout.write(
    `\n${report.machine.cpus} × ${report.machine.cpu_model}; ${Object.entries(report.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; commit ${commit}${BENCH_QUICK ? ' (quick mode: not figures to publish)' : ''}\n\n` +
      `${table}\nwritten to ${file}\n`,
  );
  if (failed) process.exitCode = 1;
}

await main();
