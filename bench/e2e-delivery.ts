/**
 * End-to-end delivery against a fair same-run baseline. Both pipelines run as separate processes
 * over the same Kafka broker, MariaDB and Redis and call the same fake provider process
 * (`bench/fake-provider.ts`), which answers at once and posts a signed receipt back:
 *
 * - baseline, the bare pipeline (`bench/bare-pipeline.ts`): Fastify accept → kafkajs produce →
 *   kafkajs consume → HTTP call to the fake provider → its receipt POSTed to a bare Fastify route →
 *   kafkajs produce → kafkajs consume → mysql2 batched insert. The same hops and libraries, no
 *   gateway logic;
 * - ours: Pigeon's api, supplier-bridge, persister and monitor, the provider as an `http` provider.
 *
 * Each gets the same load: a warm-up (not counted), then BENCH_MESSAGES posted by
 * BENCH_CONCURRENCY workers, timed until every accepted one is stored as delivered; then
 * exactly-once is checked over the accepted ids. Each process's CPU (utime + stime) is sampled at
 * both ends of the measured window and printed as µs per delivered message.
 *
 *   node --import tsx bench/e2e-delivery.ts
 *   BENCH_MESSAGES=50000 BENCH_CONCURRENCY=200 node --import tsx bench/e2e-delivery.ts
 *   BENCH_CPU_PROF=.cache/prof node --import tsx bench/e2e-delivery.ts   # --cpu-prof for each service
 *   BENCH_API_WORKERS=2 BENCH_BRIDGES=2 BENCH_PERSISTERS=2 …           # Pigeon scaled out
 *   BENCH_ROUNDS=3 …                                                     # three rounds
 *
 * It runs BENCH_ROUNDS rounds (5; 1 with BENCH_QUICK), each pipeline started afresh in each, the
 * order alternating (bare first, then Pigeon first, …): on two cores shared with the broker and the
 * databases one pair of runs swung from 0.2 to 0.85 with whatever else ran, so the ratio is the
 * median of the rounds' own ratios, and the figures and tables printed are the median round's.
 * Before them, a warm-up round (BENCH_WARMUP_ROUND_MESSAGES, 5,000 each; 0 skips it) runs both
 * pipelines once, uncounted, so round 1 does not pay for a cold broker.
 *
 * Ends with one JSON line: {"bench":"e2e-delivery","ours":{…},"baseline":{…},"ratio":…,"rounds":[…]},
 * the ratio being Pigeon's delivered/s over the bare pipeline's.
 */
import { resolve } from 'node:path';
import { formatCpuTable } from './cpu.ts';
import { formatKafkaRequestTable } from './kafka-request-meter.ts';
import { formatSqlStatementTable } from './sql-statement-meter.ts';
import {
  type DeliveryFigures,
  type FakeProvider,
  log,
  measureDelivery,
  type Pipeline,
  round,
  startBarePipeline,
  startFakeProvider,
  startPigeon,
} from './pipelines.ts';
import { benchSize, envCount, envInt } from './support.ts';

interface Measured {
  figures: DeliveryFigures;
  failed: boolean;
}

async function measured(
  start: () => Promise<Pipeline>,
  provider: FakeProvider,
  opts: Parameters<typeof measureDelivery>[2],
): Promise<Measured> {
  const pipeline = await start();
  try {
    const figures = await measureDelivery(pipeline, provider, opts);
    const { failed } = await pipeline.stop();
    return { figures, failed: failed || !figures.exactly_once };
  } catch (err) {
    for (const p of pipeline.processes) log(`--- ${p.name} output:\n${p.output().slice(-4000)}`);
    await pipeline.stop();
    throw err;
  }
}

/** Pigeon's delivered/s over the bare pipeline's (0 when the bare one delivered nothing). */
function ratioOf(pigeon: DeliveryFigures, bare: DeliveryFigures): number {
  return bare.delivered_per_s > 0 ? round(pigeon.delivered_per_s / bare.delivered_per_s, 3) : 0;
}

function summary(label: string, f: DeliveryFigures): string {
  return (
    `  ${label.padEnd(14)} ${String(f.delivered_per_s).padStart(8)} delivered/s  ` +
    `accepted ${f.accepted} at ${f.accept_rps}/s (${f.refused} refused, ${f.errors} failed), ` +
    `all delivered in ${f.all_delivered_s ?? 'never'} s, exactly once ${f.exactly_once}`
  );
}

async function main(): Promise<void> {
  const opts = {
    warmup: envInt('BENCH_WARMUP_MESSAGES', benchSize(1000, 300)),
    total: envInt('BENCH_MESSAGES', benchSize(10_000, 2000)),
    concurrency: envInt('BENCH_CONCURRENCY', 200),
    stallSeconds: envInt('BENCH_STALL_S', 60),
  };
  const partitions = envInt('BENCH_PARTITIONS', 6);
  const bridgeConcurrency = envInt('BENCH_BRIDGE_CONCURRENCY', 64);
  const profileDir = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;

  const provider = await startFakeProvider(envCount('BENCH_RECEIPT_DELAY_MS', 200));
  let failed = false;
  try {
    const bareOptions = { provider, partitions, concurrency: bridgeConcurrency };
    const unprofiled = {
      provider,
      partitions,
      concurrency: bridgeConcurrency,
      apiWorkers: envInt('BENCH_API_WORKERS', 1),
      bridges: envInt('BENCH_BRIDGES', 1),
      persisters: envInt('BENCH_PERSISTERS', 1),
    };
    const pigeonOptions = { ...unprofiled, ...(profileDir ? { profileDir } : {}) };
    const runBare = () => measured(() => startBarePipeline(bareOptions), provider, opts);
    const runPigeon = () => measured(() => startPigeon(pigeonOptions), provider, opts);
    const rounds: Array<{ bare: Measured; pigeon: Measured; ratio: number }> = [];
    const roundCount = envInt('BENCH_ROUNDS', benchSize(5, 1));
    const warmupRound = envCount('BENCH_WARMUP_ROUND_MESSAGES', benchSize(5000, 0));
    if (warmupRound > 0) {
      // On a fresh broker the first runs are slow while the broker's JIT, MariaDB's buffer pool and
      // the page cache warm up: whichever pipeline ran first in round 1 lost up to a third of its
      // rate. Both run once first, uncounted, in the order that makes the rounds ABBA throughout.
      log(`warm-up round of ${warmupRound} messages each (not counted)`);
      const warm = { ...opts, total: warmupRound };
      failed ||= (await measured(() => startPigeon(unprofiled), provider, warm)).failed;
      failed ||= (await measured(() => startBarePipeline(bareOptions), provider, warm)).failed;
    }
    for (let n = 0; n < roundCount; n++) {
      log(`round ${n + 1} of ${roundCount}`);
      let bare: Measured;
      let pigeon: Measured;
      if (n % 2 === 0) {
        bare = await runBare();
        pigeon = await runPigeon();
      } else {
        pigeon = await runPigeon();
        bare = await runBare();
      }
      failed ||= bare.failed || pigeon.failed;
      rounds.push({ bare, pigeon, ratio: ratioOf(pigeon.figures, bare.figures) });
    }
    const ratios = rounds.map((r) => r.ratio);
    // The median round's figures (the lower middle of an even count), with its ratio.
    const { bare, pigeon, ratio } = [...rounds].sort((a, b) => a.ratio - b.ratio)[
      Math.floor((rounds.length - 1) / 2)
    ]!;
    const stats = await provider.stats();
    process.stdout.write(
      [
        `e2e delivery — ${opts.total} messages after ${opts.warmup} of warm-up, ${opts.concurrency} in flight, ` +
          `${partitions} partitions, bridge concurrency ${bridgeConcurrency}, loopback`,
        summary('bare pipeline', bare.figures),
        summary('pigeon', pigeon.figures),
        `  ratio          ${ratio} (pigeon / bare delivered per second${
          rounds.length > 1 ? `; the median of ${rounds.length} rounds: ${ratios.join(', ')}` : ''
        })`,
        `  fake provider  ${JSON.stringify(stats)}`,
        '',
        formatCpuTable('CPU per delivered message — bare pipeline', bare.figures.cpu),
        '',
        formatCpuTable('CPU per delivered message — pigeon', pigeon.figures.cpu),
        '',
        formatKafkaRequestTable('bare pipeline', bare.figures.kafka_requests_per_msg),
        '',
        formatKafkaRequestTable('pigeon', pigeon.figures.kafka_requests_per_msg),
        '',
        formatSqlStatementTable('bare pipeline', bare.figures.sql),
        '',
        formatSqlStatementTable('pigeon', pigeon.figures.sql),
        '',
      ].join('\n'),
    );
    const strip = ({ cpu: _cpu, check: _check, sql: _sql, ...rest }: DeliveryFigures) => rest;
    process.stdout.write(
      `${JSON.stringify({ bench: 'e2e-delivery', ours: strip(pigeon.figures), baseline: strip(bare.figures), ratio, rounds: rounds.map((r) => ({ ratio: r.ratio, ours: r.pigeon.figures.delivered_per_s, baseline: r.bare.figures.delivered_per_s, exactly_once: r.pigeon.figures.exactly_once && r.bare.figures.exactly_once })) })}\n`,
    );
  } finally {
    await provider.stop();
    if (failed) process.exitCode = 1;
  }
}

await main();
