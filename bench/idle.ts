/**
 * What an idle gateway costs its Kafka broker. Every consumer long-polls the broker whether or not
 * records come, and sends heartbeats; on this 2-core machine the broker spends about a millisecond
 * of CPU per request, so those polls are a fixed charge, spread over however few messages flow.
 *
 * Measures the broker's CPU per second over BENCH_IDLE_SECONDS (20) three times: with nothing
 * attached (its own floor), with the bare pipeline idle (baseline) and with Pigeon's four services
 * idle (ours), each after a settling wait (BENCH_IDLE_SETTLE_MS, 15 s), with each process's own
 * CPU per second and Kafka requests per second by API.
 *
 *   npm run bench:idle
 *   BENCH_CPU_PROF=.cache/prof npm run bench:idle   # --cpu-prof for each of Pigeon's services
 *
 * Ends with one JSON line: {"bench":"idle","ours":{broker_ms_per_s,process_ms_per_s,requests_per_s},"baseline":{…},
 * "floor_ms_per_s","ratio"}; the ratio is the broker's CPU with Pigeon idle over its CPU with the
 * bare pipeline idle (lower is better; the bare pipeline's consumers keep kafkajs' 5 s polls).
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_KAFKA_BROKERS } from '../test/support/infra.ts';
import { CpuMeter, pidListeningOn } from './cpu.ts';
import { KafkaRequestMeter } from './kafka-request-meter.ts';
import { log, type Pipeline, round, startBarePipeline, startFakeProvider, startPigeon } from './pipelines.ts';
import { benchSize, envInt } from './support.ts';

const seconds = envInt('BENCH_IDLE_SECONDS', benchSize(20, 5));
const settleMs = envInt('BENCH_IDLE_SETTLE_MS', benchSize(15_000, 5_000));
const port = Number(TEST_KAFKA_BROKERS[0]?.split(':').pop());
const broker = pidListeningOn(port);
if (broker === undefined) throw new Error(`no process of ours listens on the broker's port ${port}`);

/** The broker's CPU in ms per second over the window, and each of `processes`' (by name). */
async function msPerSecond(
  processes: Record<string, number> = {},
): Promise<{ broker: number; processes: Record<string, number> }> {
  const meter = new CpuMeter({ broker: broker!, ...processes });
  meter.start();
  await sleep(seconds * 1000);
  // µs "per message" over `seconds` messages are µs per second.
  const perSecond: Record<string, number> = {};
  for (const row of meter.stop(seconds)) perSecond[row.process] = round(row.us_per_msg / 1000, 1);
  const { broker: brokerMs, ...rest } = perSecond;
  return { broker: brokerMs!, processes: rest };
}

interface Idle {
  broker_ms_per_s: number;
  /** Each process's own CPU while idle, in ms per second. */
  process_ms_per_s: Record<string, number>;
  requests_per_s: Record<string, Record<string, number>>;
}

async function idle(start: () => Promise<Pipeline>): Promise<Idle> {
  const pipeline = await start();
  try {
    await sleep(settleMs);
    const pids: Record<string, number> = {};
    for (const p of pipeline.processes) if (p.pid !== undefined) pids[p.name] = p.pid;
    const meter = new KafkaRequestMeter(pids);
    meter.start();
    const cpu = await msPerSecond(pids);
    // Requests "per message" over `seconds` messages are requests per second.
    return {
      broker_ms_per_s: cpu.broker,
      process_ms_per_s: cpu.processes,
      requests_per_s: await meter.stop(seconds),
    };
  } finally {
    await pipeline.stop();
  }
}

const provider = await startFakeProvider(200);
try {
  const options = { provider, partitions: envInt('BENCH_PARTITIONS', 6), concurrency: 64 };
  const profileDir = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;
  // After another bench's load the broker stays busy for a while (its JIT, collections, segments).
  await sleep(settleMs);
  log(`broker alone, ${seconds} s…`);
  const floor = (await msPerSecond()).broker;
  log(`bare pipeline idle, ${seconds} s…`);
  const baseline = await idle(() => startBarePipeline(options));
  log(`pigeon idle, ${seconds} s…`);
  const ours = await idle(() => startPigeon({ ...options, ...(profileDir ? { profileDir } : {}) }));
  const total = (r: Idle) =>
    round(
      Object.values(r.requests_per_s).reduce((s, p) => s + (p.total ?? 0), 0),
      1,
    );
  log(
    `broker CPU: alone ${floor} ms/s, bare pipeline idle ${baseline.broker_ms_per_s} ms/s (${total(baseline)} requests/s), pigeon idle ${ours.broker_ms_per_s} ms/s (${total(ours)} requests/s)`,
  );
  for (const [name, apis] of Object.entries(ours.requests_per_s))
    log(`  ${name.padEnd(16)} ${JSON.stringify(apis)}`);
  log(`own CPU idle (ms/s): pigeon ${JSON.stringify(ours.process_ms_per_s)}`);
  log(`own CPU idle (ms/s): bare   ${JSON.stringify(baseline.process_ms_per_s)}`);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'idle',
      ours: { ...ours, requests_total_per_s: total(ours) },
      baseline: { ...baseline, requests_total_per_s: total(baseline) },
      floor_ms_per_s: floor,
      ratio: round(ours.broker_ms_per_s / Math.max(baseline.broker_ms_per_s, 0.1), 2),
    })}\n`,
  );
} finally {
  await provider.stop();
}
