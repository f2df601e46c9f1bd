/**
 * Memory soak: Pigeon's four services (as in `bench/e2e-delivery.ts`, through the fake provider)
 * carrying a steady load at half of the path's max throughput for BENCH_SOAK_SECONDS (300). Each
 * service's RSS (with its children) is read after the first minute (or the first third of a
 * shorter run) and at the end; the goal is the end within ±10 % of the first reading.
 *
 * The max is measured first with a short burst (as e2e measures delivered/s) on services that are
 * then stopped, or taken from BENCH_SOAK_MAX_RPS; the soak runs on fresh ones. Since the services run in sequence on one path, half of the path's
 * delivered/s is half of the slowest service's throughput.
 *
 *   node --import tsx bench/soak.ts
 *   BENCH_SOAK_SECONDS=60 BENCH_SOAK_MAX_RPS=800 node --import tsx bench/soak.ts
 *
 * Ends with one JSON line: {"bench":"soak","ours":{rss at the end},"baseline":{rss after the
 * first minute},"ratio":the largest end/first ratio}.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { processTree, rssMiB } from './cpu.ts';
import {
  log,
  measureDelivery,
  postMessages,
  round,
  startFakeProvider,
  startPigeon,
  waitDelivered,
} from './pipelines.ts';
import { benchSize, envCount, envInt } from './support.ts';

async function main(): Promise<void> {
  const seconds = envInt('BENCH_SOAK_SECONDS', benchSize(300, 40));
  const firstReadingAt = Math.min(60, Math.floor(seconds / 3));
  const provider = await startFakeProvider(envCount('BENCH_RECEIPT_DELAY_MS', 200));
  const start = () =>
    startPigeon({
      provider,
      partitions: envInt('BENCH_PARTITIONS', 6),
      concurrency: envInt('BENCH_BRIDGE_CONCURRENCY', 64),
    });
  let maxRps = Number(process.env.BENCH_SOAK_MAX_RPS ?? 0);
  let failed = false;
  if (!(maxRps > 0)) {
    // On services of their own: a heap grown by the burst is given back during the soak, and the
    // soak's processes would start from a size their steady load never needs (the api fell 20 %
    // from its first reading to its last when the burst ran on the same processes).
    log('soak: measuring the max delivered/s first…');
    const sprinters = await start();
    try {
      const burst = await measureDelivery(sprinters, provider, {
        warmup: benchSize(1000, 200),
        total: benchSize(5000, 1000),
        concurrency: 200,
        stallSeconds: 60,
      });
      maxRps = burst.delivered_per_s;
    } finally {
      if ((await sprinters.stop()).failed) failed = true;
    }
  }
  const pigeon = await start();
  try {
    const rate = Math.max(1, Math.floor(maxRps / 2));
    const total = rate * seconds;
    const before = await pigeon.delivered();
    const rss = () =>
      Object.fromEntries(
        pigeon.processes.map((p) => [p.name, p.pid === undefined ? -1 : rssMiB(processTree(p.pid))]),
      );
    // The V8 heap in use beside RSS: RSS also holds heap capacity V8 grew and has not given back,
    // so a heap in use that stays flat while RSS moves is sizing, not a leak.
    const heaps = async () =>
      Object.fromEntries(
        await Promise.all(pigeon.processes.map(async (p) => [p.name, await heapMiB(p.opsUrl)] as const)),
      );
    const heap = async () =>
      Object.fromEntries(Object.entries(await heaps()).map(([name, h]) => [name, h.used]));
    log(`soak: ${rate} messages/s offered (half of ${maxRps}) for ${seconds} s…`);
    let first: Record<string, number> = {};
    let firstHeap: Record<string, number> = {};
    const reading = sleep(firstReadingAt * 1000).then(async () => {
      first = rss();
      firstHeap = await heap();
      log(
        `soak: RSS after ${firstReadingAt} s ${JSON.stringify(first)}, heap in use ${JSON.stringify(firstHeap)}`,
      );
    });
    // A reading every tenth of the run besides the two compared: a leak climbs steadily, a heap
    // settling after the max burst falls, and a heap still growing to its working size flattens.
    const series: Array<{ s: number; rss: Record<string, number>; heap: Record<string, string> }> = [];
    const started = performance.now();
    const sampler = setInterval(
      () => {
        const s = Math.round((performance.now() - started) / 1000);
        const sample = rss();
        void heaps().then((h) =>
          series.push({
            s,
            rss: sample,
            heap: Object.fromEntries(
              Object.entries(h).map(([name, m]) => [name, `${m.used}/${m.committed}/${m.external}`]),
            ),
          }),
        );
      },
      Math.max(1000, (seconds * 1000) / 10),
    );
    const load = await postMessages(pigeon, {
      first: 10_000_000,
      total,
      concurrency: 200,
      ratePerSecond: rate,
    });
    await reading;
    clearInterval(sampler);
    const end = rss();
    const endHeap = await heap();
    for (const { s: at, rss: sample, heap: h } of series) {
      log(
        `soak: RSS at ${at} s ${JSON.stringify(sample)}, heap in use/committed/external ${JSON.stringify(h)}`,
      );
    }
    const delivered = await waitDelivered(pigeon, before + load.ids.length, 60);
    const { exactlyOnce, detail } = await pigeon.verify(load.ids);
    if (!delivered || !exactlyOnce) log(`soak: checks ${JSON.stringify(detail)}`);
    if (!delivered || !exactlyOnce) failed = true;
    const rows = Object.keys(end).map((name) => {
      const change = first[name]! > 0 ? end[name]! / first[name]! : 0;
      return { name, first: first[name]!, end: end[name]!, change, within: Math.abs(change - 1) <= 0.1 };
    });
    process.stdout.write(
      [
        `Soak — ${rate}/s offered for ${seconds} s (${load.ids.length} accepted, ${load.refused} refused, ` +
          `${load.errors} failed; achieved ${round(load.ids.length / load.seconds)}/s), exactly once ${exactlyOnce}`,
        `  ${'service'.padEnd(18)} ${`RSS ${firstReadingAt} s`.padStart(10)} ${'RSS end'.padStart(10)} ${'change'.padStart(8)}  ±10 %` +
          `  ${`heap ${firstReadingAt} s`.padStart(10)} ${'heap end'.padStart(10)}`,
        ...rows.map(
          (r) =>
            `  ${r.name.padEnd(18)} ${String(r.first).padStart(10)} ${String(r.end).padStart(10)} ` +
            `${`${round((r.change - 1) * 100, 1)} %`.padStart(8)}  ${(r.within ? 'yes' : 'NO').padEnd(5)}` +
            `  ${String(firstHeap[r.name]).padStart(10)} ${String(endHeap[r.name]).padStart(10)}`,
        ),
        "(MiB; heap = V8 heap in use, from the service's /metrics)",
        '',
      ].join('\n'),
    );
    const worst = rows.reduce((w, r) => (Math.abs(r.change - 1) > Math.abs(w - 1) ? r.change : w), 1);
    process.stdout.write(
      `${JSON.stringify({
        bench: 'soak',
        ours: {
          rate,
          seconds,
          accepted: load.ids.length,
          errors: load.refused + load.errors,
          exactly_once: exactlyOnce,
          rss_end_mib: end,
          heap_end_mib: endHeap,
          all_within_10pct: rows.every((r) => r.within),
        },
        baseline: {
          max_delivered_per_s: maxRps,
          rss_first_mib: first,
          heap_first_mib: firstHeap,
          first_reading_s: firstReadingAt,
        },
        ratio: round(worst, 3),
      })}\n`,
    );
  } finally {
    if ((await pigeon.stop()).failed) failed = true;
    await provider.stop();
    if (failed) process.exitCode = 1;
  }
}

await main();

/**
 * A service's V8 heap in use and committed, and its memory outside the heap (Buffers), in MiB from
 * its /metrics; -1 when unreadable.
 */
async function heapMiB(
  opsUrl: string | undefined,
): Promise<{ used: number; committed: number; external: number }> {
  const none = { used: -1, committed: -1, external: -1 };
  if (!opsUrl) return none;
  try {
    const text = await (await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const read = (name: string) => {
      const match = new RegExp(`^pigeon_nodejs_${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text);
      return match ? round(Number(match[1]) / 1024 / 1024, 1) : -1;
    };
    return {
      used: read('heap_size_used_bytes'),
      committed: read('heap_size_total_bytes'),
      external: read('external_memory_bytes'),
    };
  } catch {
    return none;
  }
}
