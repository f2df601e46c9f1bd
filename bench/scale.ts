/**
 * Scale-out shape: Pigeon's delivery path (as in `bench/e2e-delivery.ts`, through the fake
 * provider) with one of each service, with the api as two cluster workers, and with two api
 * workers, two supplier bridges and two persisters sharing the partitions through their consumer
 * groups. Each layout gets the same warm-up and load; throughput and µs of CPU per delivered
 * message per process are printed for each, so capacity can be planned per stage. On a machine
 * whose cores are shared with the broker and the database, the CPU per message is the figure to
 * read, not the throughput.
 *
 *   node --import tsx bench/scale.ts          # BENCH_MESSAGES, BENCH_CONCURRENCY as in e2e
 *
 * Ends with one JSON line: {"bench":"scale","ours":<2/2/2>,"baseline":<1/1/1>,"ratio":…}.
 */
import { formatCpuTable } from './cpu.ts';
import {
  type DeliveryFigures,
  log,
  measureDelivery,
  round,
  startFakeProvider,
  startPigeon,
} from './pipelines.ts';
import { benchSize, envCount, envInt } from './support.ts';

interface Layout {
  name: string;
  apiWorkers: number;
  bridges: number;
  persisters: number;
}

const LAYOUTS: Layout[] = [
  { name: '1 api, 1 bridge, 1 persister', apiWorkers: 1, bridges: 1, persisters: 1 },
  { name: '2 api workers, 1 bridge, 1 persister', apiWorkers: 2, bridges: 1, persisters: 1 },
  { name: '2 api workers, 2 bridges, 2 persisters', apiWorkers: 2, bridges: 2, persisters: 2 },
];

async function main(): Promise<void> {
  const opts = {
    warmup: envInt('BENCH_WARMUP_MESSAGES', benchSize(1000, 200)),
    total: envInt('BENCH_MESSAGES', benchSize(10_000, 1000)),
    concurrency: envInt('BENCH_CONCURRENCY', 200),
    stallSeconds: envInt('BENCH_STALL_S', 60),
  };
  const partitions = envInt('BENCH_PARTITIONS', 6);
  const concurrency = envInt('BENCH_BRIDGE_CONCURRENCY', 64);
  const provider = await startFakeProvider(envCount('BENCH_RECEIPT_DELAY_MS', 200));
  const results: Array<{ layout: Layout; figures: DeliveryFigures }> = [];
  let failed = false;
  try {
    for (const layout of LAYOUTS) {
      log(`layout: ${layout.name}`);
      const pigeon = await startPigeon({ provider, partitions, concurrency, ...layout });
      try {
        const figures = await measureDelivery(pigeon, provider, opts);
        results.push({ layout, figures });
        if (!figures.exactly_once) failed = true;
      } catch (err) {
        for (const p of pigeon.processes) log(`--- ${p.name} output:\n${p.output().slice(-4000)}`);
        throw err;
      } finally {
        if ((await pigeon.stop()).failed) failed = true;
      }
    }
  } finally {
    await provider.stop();
  }
  const lines = [
    `Scale-out — ${opts.total} messages after ${opts.warmup} of warm-up, ${opts.concurrency} in flight`,
  ];
  for (const { layout, figures } of results) {
    lines.push(
      '',
      `${layout.name}: ${figures.delivered_per_s} delivered/s, accepted ${figures.accept_rps}/s, ` +
        `exactly once ${figures.exactly_once}`,
      formatCpuTable('CPU per delivered message', figures.cpu),
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
  const single = results[0]!.figures;
  const scaled = results.at(-1)!.figures;
  const strip = ({ cpu: _cpu, check: _check, sql: _sql, ...rest }: DeliveryFigures) => rest;
  const ours = {
    ...strip(scaled),
    layouts: Object.fromEntries(results.map(({ layout, figures }) => [layout.name, strip(figures)])),
  };
  const ratio = single.delivered_per_s > 0 ? round(scaled.delivered_per_s / single.delivered_per_s, 3) : 0;
  process.stdout.write(`${JSON.stringify({ bench: 'scale', ours, baseline: strip(single), ratio })}\n`);
  if (failed) process.exitCode = 1;
}

await main();
