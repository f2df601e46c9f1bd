/**
 * Time to detect a provider that accepts everything and delivers nothing, measured as a new user
 * meets it: a fresh embedded gateway with default settings (two simulators, `sim-a` and `sim-b`,
 * SQLite in a temporary PIGEON_DATA_DIR, a free port), DETECT_RATE messages a second (default 5)
 * to UK mobiles; after DETECT_HEALTHY_SECONDS (90) `sim-b` is set `silent` through the simulator
 * admin API, and the run goes on for DETECT_SECONDS (300) more.
 *
 * Prints sim-b's share of submissions per 30 s, when the first alert about sim-b fired and how many
 * did, and /readyz's monitor detail. Ends with one JSON line: `ours` is the seconds from the fault
 * until sim-b's share of a 30 s bucket first falls below 0.15; `baseline` is the 300 s the
 * monitor is allowed (issue #17's "within 5 minutes"), so `ratio` < 1 passes.
 *
 *   node --import tsx bench/monitor-detect.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmbedded } from '../bin/embedded.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { Topics } from '../core/topics.ts';
import { freePort } from '../test/support/ports.ts';
import { envInt } from './support.ts';

const RATE = envInt('DETECT_RATE', 5);
const HEALTHY_MS = envInt('DETECT_HEALTHY_SECONDS', 90) * 1000;
const FAULT_MS = envInt('DETECT_SECONDS', 300) * 1000;
const BUCKET_MS = 30_000;
const BUDGET_S = 300;

const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-detect-'));
const port = await freePort();
const config = loadConfig(
  { PORT: String(port), PIGEON_DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
  { mode: 'embedded' },
);
const gateway = await startEmbedded(config, createLogger({ level: 'silent' }));
const base = `http://127.0.0.1:${port}`;
const headers = { authorization: `Bearer ${gateway.api.apiKey!}`, 'content-type': 'application/json' };

const start = Date.now();
/** Submissions per 30 s bucket since the start, per provider. */
const buckets: Array<Record<string, number>> = [];
await gateway.context.bus().subscribe({
  groupId: 'monitor-detect-observer',
  topics: [Topics.outcomes],
  fromBeginning: false,
  handler: async (batch) => {
    for (const r of batch.records) {
      const event = JSON.parse(r.value) as { type?: string; provider?: string };
      if (event.type !== 'message.submitted' || !event.provider) continue;
      const i = Math.floor((Date.now() - start) / BUCKET_MS);
      const bucket = (buckets[i] ??= {});
      bucket[event.provider] = (bucket[event.provider] ?? 0) + 1;
    }
  },
});

let sent = 0;
let refused = 0;
const refusals = new Map<string, number>();
const send = async () => {
  // Random UK mobiles: the default per-recipient caps stay out of the way, as with real users.
  const to = `+447400${String(Math.floor(Math.random() * 900_000) + 100_000)}`;
  const response = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ to, body: 'Your order has shipped' }),
  });
  if (response.status === 202) sent++;
  else {
    refused++;
    const problem = (await response.json().catch(() => ({}))) as { code?: string };
    const why = `${response.status} ${problem.code ?? ''}`;
    refusals.set(why, (refusals.get(why) ?? 0) + 1);
  }
  await response.body?.cancel().catch(() => undefined);
};
const pump = setInterval(() => void send().catch(() => refused++), 1000 / RATE);

const store = gateway.context.store();
const alerts = async () =>
  (await store.listIncidents({ limit: 100 })).filter(
    (i) => i.labels.provider === 'sim-b' && i.firedAt !== null && i.ruleId !== 'monitor-blind',
  );
const readiness = async () => (await gateway.context.readiness.evaluate()).detail?.monitor;

console.log('readyz monitor detail at start', JSON.stringify(await readiness()));
await sleep(HEALTHY_MS);
const fault = await fetch(`${base}/simulator/providers/sim-b/fault`, {
  method: 'PUT',
  headers,
  body: JSON.stringify({ fault: 'silent' }),
});
if (fault.status !== 200) throw new Error(`setting the fault answered ${fault.status}`);
const faultAt = Date.now();
console.log(`sim-b silent at ${Math.round((faultAt - start) / 1000)} s`);
let firstAlert: number | undefined;
while (Date.now() - faultAt < FAULT_MS) {
  await sleep(1_000);
  if (firstAlert === undefined) {
    const fired = await alerts();
    if (fired.length > 0) firstAlert = Math.min(...fired.map((i) => i.firedAt!));
  }
}
clearInterval(pump);
await sleep(1_000);

const fired = await alerts();
const blindWarnings = (await store.listIncidents({ limit: 100 })).filter(
  (i) => i.ruleId === 'monitor-blind',
).length;
console.log('readyz monitor detail at the end', JSON.stringify(await readiness()));
console.log(`sent ${sent}, refused ${refused}`, JSON.stringify(Object.fromEntries(refusals)));
console.log('30 s bucket from start (s) | sim-b share | submissions');
let detectedS: number | undefined;
const faultBucket = Math.floor((faultAt - start) / BUCKET_MS);
buckets.forEach((bucket, i) => {
  const total = Object.values(bucket).reduce((a, b) => a + b, 0);
  const share = total > 0 ? (bucket['sim-b'] ?? 0) / total : 0;
  console.log(`${String(i * 30).padStart(5)} | ${share.toFixed(2)} | ${total}`);
  // A bucket that started at or after the fault, ending `(i + 1) * 30` s after the start.
  if (detectedS === undefined && i > faultBucket && total > 0 && share < 0.15) {
    detectedS = ((i + 1) * BUCKET_MS - (faultAt - start)) / 1000;
  }
});
console.log(
  `alerts about sim-b: ${fired.length} (${fired.map((i) => i.ruleId).join(', ') || 'none'}); first ${
    firstAlert === undefined ? 'never' : `${Math.round((firstAlert - faultAt) / 1000)} s after the fault`
  }; monitor-blind warnings: ${blindWarnings}`,
);

await gateway.close();
rmSync(dataDir, { recursive: true, force: true });
const ours = detectedS ?? Number.POSITIVE_INFINITY;
console.log(
  JSON.stringify({
    bench: 'monitor-detect',
    ours: Number.isFinite(ours) ? ours : null,
    baseline: BUDGET_S,
    ratio: Number.isFinite(ours) ? Math.round((ours / BUDGET_S) * 100) / 100 : null,
    alertAfterSeconds: firstAlert === undefined ? null : Math.round((firstAlert - faultAt) / 1000),
    alerts: fired.length,
  }),
);
