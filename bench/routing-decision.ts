/**
 * Cost of one routing decision: `CatalogPlanner.plan` (route table match, health weighting,
 * weighted draw, binding to adapters) over a realistic table — six providers in two tiers, a
 * least-cost rule for one country, a tenant's own rule and a prefix rule — for a mix of
 * destinations and classes. The baseline is the least any router does in the same loop: a
 * country-keyed lookup returning a fresh copy of a fixed provider list. No I/O; one process.
 *
 *   node --import tsx bench/routing-decision.ts
 *   BENCH_DECISIONS=1000000 node --import tsx bench/routing-decision.ts
 *
 * Ends with one JSON line: {"bench":"routing-decision","ours":{…},"baseline":{…},"ratio":ours/baseline decisions per CPU second}.
 * The goal (issue 13): a decision stays at or under 5 µs.
 */
import { MemoryCache } from '../core/cache/memory-cache.ts';
import { loadConfig } from '../core/config.ts';
import { newId } from '../core/ids.ts';
import { createLogger } from '../core/logger.ts';
import type { MessageClass, MessageRequested } from '../core/message.ts';
import { buildMessageRequested } from '../core/message-request.ts';
import type { ConfiguredProvider } from '../providers/registry.ts';
import { createSimulator } from '../providers/simulator.ts';
import { CatalogPlanner, fixedRouting } from '../routing/planner.ts';
import type { RouteRule } from '../routing/rules.ts';
import { SIMULATOR_ENV } from '../test/support/simulator-env.ts';
import { envInt } from './support.ts';

const GOAL_MICROS = 5;
const NAMES = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'] as const;

const RULES: RouteRule[] = [
  {
    id: 'default',
    priority: 100,
    strategy: 'weighted',
    tiers: [
      [
        { provider: 'alpha', weight: 5 },
        { provider: 'bravo', weight: 3 },
        { provider: 'charlie', weight: 2 },
      ],
      [
        { provider: 'delta', weight: 1 },
        { provider: 'echo', weight: 1 },
      ],
    ],
    enabled: true,
  },
  {
    id: 'us-least-cost',
    priority: 50,
    country: 'US',
    strategy: 'least_cost',
    qualityFloor: 0.5,
    tiers: [
      [
        { provider: 'alpha', weight: 1 },
        { provider: 'bravo', weight: 1 },
        { provider: 'delta', weight: 1 },
      ],
    ],
    enabled: true,
  },
  {
    id: 'tenant-otp',
    priority: 10,
    tenantId: 'tenant-b',
    messageClass: 'otp',
    strategy: 'weighted',
    tiers: [[{ provider: 'echo', weight: 1 }], [{ provider: 'foxtrot', weight: 1 }]],
    enabled: true,
  },
  {
    id: 'uk-mobile',
    priority: 20,
    prefix: '447',
    strategy: 'weighted',
    tiers: [
      [
        { provider: 'charlie', weight: 2, senderId: 'PIGEON' },
        { provider: 'foxtrot', weight: 1 },
      ],
    ],
    enabled: true,
  },
];

const RECIPIENTS = ['+14155550123', '+447400123456', '+4915123456789', '+8613800138000', '+33612345678'];
const CLASSES: MessageClass[] = ['otp', 'transactional', 'marketing', 'alert'];

function messages(count: number): MessageRequested[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) =>
    buildMessageRequested(
      { to: RECIPIENTS[i % RECIPIENTS.length]!, body: 'bench', class: CLASSES[i % CLASSES.length]! },
      {
        tenantId: i % 3 === 0 ? 'tenant-b' : 'tenant-a',
        messageId: newId(now),
        now,
        publishTimeoutMs: 60_000,
      },
    ),
  );
}

/**
 * µs per decision of `decide` over `batch`, after a warm-up: of CPU time (this thread's user and
 * system time, what a decision costs however busy the machine is) and of wall time (what it took
 * here, waits for a core included: two cores shared with other work inflate it).
 */
function measure(
  decide: (message: MessageRequested) => readonly unknown[],
  batch: readonly MessageRequested[],
  decisions: number,
) {
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += decide(batch[i % batch.length]!).length;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < decisions; i++) sink += decide(batch[i % batch.length]!).length;
  const wallUs = (performance.now() - started) * 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (sink === 0) throw new Error('no decision named a provider');
  const cpuUs = cpu.user + cpu.system;
  return {
    us_per_decision: Math.round((cpuUs / decisions) * 1000) / 1000,
    decisions_per_cpu_s: Math.round(decisions / (cpuUs / 1e6)),
    wall_us_per_decision: Math.round((wallUs / decisions) * 1000) / 1000,
  };
}

async function main(): Promise<void> {
  const decisions = envInt('BENCH_DECISIONS', 300_000);
  const logger = createLogger({ level: 'silent' });
  const config = loadConfig(SIMULATOR_ENV);
  const cache = new MemoryCache();
  const providers: ConfiguredProvider[] = NAMES.map((name, i) => ({
    definition: {
      name,
      type: 'simulator',
      prices: { US: 0.0075 + i / 1000, GB: 0.03 + i / 1000, '*': 0.05 },
    },
    weight: 1,
    adapter: createSimulator(name, {}, { config, cache, logger }),
  }));
  // One provider degraded, as the monitor's verdicts usually leave one or two.
  const health = { health: (provider: string) => (provider === 'bravo' ? 0.4 : 1) };
  const planner = new CatalogPlanner(fixedRouting(providers, RULES), health);
  const signals = { breakerOpen: (provider: string) => provider === 'foxtrot' };
  const batch = messages(1_000);

  const byCountry = new Map<string | undefined, readonly string[]>();
  for (const m of batch) byCountry.set(m.country, NAMES.slice(0, 3));
  const fallback: readonly string[] = NAMES.slice(0, 2);

  const baseline = measure((m) => [...(byCountry.get(m.country) ?? fallback)], batch, decisions);
  const ours = measure((m) => planner.plan(m, signals), batch, decisions);
  for (const p of providers) await p.adapter.close?.();
  await cache.close();

  process.stdout.write(
    [
      `routing decision — ${decisions} decisions over ${batch.length} messages (${RULES.length} rules, ${NAMES.length} providers)`,
      `baseline (country lookup + copy): ${baseline.us_per_decision} µs of CPU (${baseline.wall_us_per_decision} µs wall)`,
      `ours (CatalogPlanner.plan):       ${ours.us_per_decision} µs of CPU (${ours.wall_us_per_decision} µs wall; goal ≤ ${GOAL_MICROS} µs)`,
      '',
    ].join('\n'),
  );
  const ratio = Math.round((ours.decisions_per_cpu_s / baseline.decisions_per_cpu_s) * 1000) / 1000;
  process.stdout.write(`${JSON.stringify({ bench: 'routing-decision', ours, baseline, ratio })}\n`);
}

await main();
