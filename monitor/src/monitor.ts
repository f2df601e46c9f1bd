import { randomUUID } from 'node:crypto';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Bus, ConsumedBatch, ConsumedRecord, Subscription } from '../../core/bus/bus.ts';
import type { GroupLag, LagReader } from '../../core/bus/lag.ts';
import type { Cache } from '../../core/cache/cache.ts';
import type { MonitorConfig } from '../../core/config.ts';
import { instanceName } from '../../core/heartbeat.ts';
import type { Logger } from '../../core/logger.ts';
import { encodeProviderHealth, HealthBoard } from '../../core/provider-health.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import { followProviderHealth } from '../../routing/health-feed.ts';
import type { AlertingSetup } from '../../alerting/config.ts';
import { Alerting, type AlertingStore } from './alerting.ts';
import { Baselines } from '../../alerting/baseline.ts';
import type { BaselineStore } from '../../core/store/kinds/baselines.ts';
import { BaselineMemory, type BaselineMemoryStore } from './baseline-memory.ts';
import { Canary } from './canary.ts';
import { HealthModel } from './health-model.ts';
import { Leadership } from './leader.ts';
import { Liveness } from './liveness.ts';
import { MonitorMetrics } from './metric-source.ts';
import type { Notifier } from '../../alerting/notifier.ts';
import { Observer } from './observer.ts';
import { OtpConversion } from './otp-conversion.ts';
import { type Prior, priorRange, priorsFrom, type ProviderExpectation } from './priors.ts';
import { ReceiptSampler } from './sampling.ts';
import { Traffic } from './traffic.ts';

export const MONITOR_GROUP = 'pigeon-monitor';

export interface MonitorOptions {
  bus: Bus;
  logger: Logger;
  registry: Registry;
  settings: MonitorConfig;
  setup: AlertingSetup;
  notifier: Notifier;
  /** Where incidents, rules and silences live; without it incidents are kept in memory only. */
  store?: AlertingStore | undefined;
  /**
   * Where baselines are kept between monitor processes and yesterday's delivered rates are read
   * (monitor/src/baseline-memory.ts, priors.ts); without it baselines live in memory only.
   */
  baselineStore?: (BaselineMemoryStore & Pick<BaselineStore, 'deliveryTotals'>) | undefined;
  /** PIGEON_CONFIG's providers, for their `expectedDeliveredRate` priors. */
  providers?: readonly ProviderExpectation[] | undefined;
  /** For the leader lease among replicas; without it this monitor always acts. */
  cache?: Cache | undefined;
  lagReader?: LagReader | undefined;
  /** Prefix of this replica's consumer groups (default `pigeon-monitor`). */
  groupId?: string;
  instance?: string;
  /** Models built elsewhere (tests tune their windows to seconds); built from `settings` when absent. */
  models?: { traffic?: Traffic; baselines?: Baselines; health?: HealthModel };
  /** Records to read (default: all); tests sharing a broker read only their own. */
  accept?: (record: ConsumedRecord) => boolean;
  now?: () => number;
}

export interface RunningMonitor {
  observer: Observer;
  alerting: Alerting;
  /** Runs one tick now (tests drive time with it). */
  tick(): Promise<void>;
  /** How much the monitor cannot judge yet, for /readyz. */
  blindness(): MonitorBlindness;
  close(): Promise<void>;
}

export interface MonitorBlindness {
  /** Baseline series seen but not yet trusted. */
  warmingBaselines: number;
  /** Provider × country judged by a floor alone (no baseline yet). */
  judgedByFloor: number;
  /** Provider × country carrying traffic that nothing judges yet, and for how long. */
  blind: Array<{ provider: string; country: string; seconds: number }>;
}

/**
 * Watches outcomes, receipts, verification events and heartbeats; judges provider health and
 * publishes it; evaluates alert rules and runs incidents. Every replica reads every event (a
 * consumer group of its own) so a standby is ready to take over with warm windows; the one
 * holding the lease acts (monitor/src/leader.ts).
 */
export async function startMonitor(options: MonitorOptions): Promise<RunningMonitor> {
  const { bus, logger, registry, settings, setup } = options;
  const now = options.now ?? Date.now;
  const group = `${options.groupId ?? MONITOR_GROUP}.${randomUUID()}`;
  const instance = options.instance ?? instanceName();

  const traffic = options.models?.traffic ?? new Traffic({ receiptGraceMs: settings.receiptGraceMs, now });
  const baselines = options.models?.baselines ?? new Baselines();
  const memory = options.baselineStore
    ? new BaselineMemory({
        baselines,
        store: options.baselineStore,
        logger,
        snapshotMs: settings.baselineSnapshotMs,
        now,
      })
    : undefined;
  await memory?.load();
  const health =
    options.models?.health ??
    new HealthModel({
      baselines,
      degradedRatio: settings.degradedRatio,
      minSamples: settings.minSamples,
      recoveryPerMinute: settings.recoveryPerMinute,
      floors: settings.floors,
      prior: await readPriors(options, logger, now()),
    });
  const liveness = new Liveness({ now });
  const sampler = new ReceiptSampler({
    threshold: settings.receiptBacklog,
    ratio: settings.bulkReceiptSample,
  });
  const canary = setup.canary
    ? new Canary({
        ...setup.canary,
        now,
        publish: (message) =>
          bus.publish(LANE_TOPICS[message.lane], [{ key: message.to, value: JSON.stringify(message) }]),
      })
    : undefined;
  if (canary) canaryMetrics(canary, registry);
  const observer = new Observer(
    { traffic, conversion: new OtpConversion({ now }), liveness, sampler, canary },
    registry,
    logger,
  );

  let lag: readonly GroupLag[] = [];
  let lagReadAt = Number.NEGATIVE_INFINITY;
  const board = new HealthBoard({ now });
  const leadership = options.cache
    ? new Leadership(options.cache, instance, Math.max(15_000, 3 * settings.tickMs))
    : undefined;
  const alerting = new Alerting({
    setup,
    notifier: options.notifier,
    metrics: new MonitorMetrics({ traffic, health, liveness, sampler, canary, lag: () => lag, now }),
    traffic,
    health,
    baselines,
    board,
    canary,
    leadership,
    store: options.store,
    registry,
    logger,
    url: settings.alertsUrl,
    now,
    // A standby that started after the last leader's snapshot takes what it knows less of.
    onTakeOver: async () => {
      await memory?.load();
    },
    publishHealth: async (verdicts) => {
      await bus.publish(
        Topics.providerHealth,
        verdicts.map((v) => ({ key: `${v.provider}/${v.country}`, value: encodeProviderHealth(v) })),
      );
      for (const v of verdicts) logger.info({ ...v }, 'monitor.provider_health');
    },
  });
  modelMetrics(registry, traffic, health, () => lag);
  blindnessMetrics(registry, baselines, health, now);

  const accept = options.accept;
  const read = async (batch: ConsumedBatch) =>
    observer.batch(accept ? { ...batch, records: batch.records.filter(accept), lag: batch.lag } : batch);
  const subscriptions: Subscription[] = [];
  try {
    subscriptions.push(
      await bus.subscribe({
        groupId: group,
        topics: [Topics.outcomes, Topics.receipts, Topics.otpEvents],
        fromBeginning: false,
        // The models are sliding windows of minutes: records a second late change nothing.
        fetch: 'relaxed',
        handler: read,
      }),
      // The compacted topic holds every instance's latest heartbeat: read from its start.
      await bus.subscribe({
        groupId: `${group}.heartbeats`,
        topics: [Topics.heartbeats],
        fromBeginning: true,
        // An instance is live for 35 s after its last heartbeat: a second late changes nothing.
        fetch: 'relaxed',
        handler: read,
      }),
      await followProviderHealth(bus, board, logger, group),
    );
  } catch (err) {
    await Promise.allSettled(subscriptions.map((s) => s.close()));
    throw err;
  }

  const readLag = async () => {
    if (!options.lagReader || now() - lagReadAt < 30_000) return;
    lagReadAt = now();
    try {
      lag = await options.lagReader.read();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'monitor.lag_read_failed');
    }
  };
  let running: Promise<void> | undefined;
  const tick = async () => {
    // One tick at a time: a slow store or notifier must not stack ticks up.
    if (running) return running;
    running = (async () => {
      try {
        await readLag();
        await alerting.tick();
        if (alerting.isLeader) await memory?.snapshot();
      } catch (err) {
        logger.error({ err }, 'monitor.tick_failed');
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void tick(), settings.tickMs);
  timer.unref();
  logger.info(
    { group, instance, rules: alerting.activeRules.length, canaries: setup.canary?.targets.length ?? 0 },
    'monitor.started',
  );

  return {
    observer,
    alerting,
    tick,
    blindness: () => ({
      warmingBaselines: baselines.warming,
      judgedByFloor: new Set(health.floorStandingsNow(now()).map((f) => `${f.provider}/${f.country}`)).size,
      blind: health.blind(now()),
    }),
    close: async () => {
      clearInterval(timer);
      await running;
      // The next monitor continues from here, not from up to 30 s ago.
      if (alerting.isLeader) await memory?.snapshot(true);
      await alerting.standDown();
      await leadership?.release();
      await Promise.allSettled(subscriptions.map((s) => s.close()));
      await options.lagReader?.close();
    },
  };
}

/** The windows as Prometheus gauges, computed at scrape time; labels are providers, countries and classes. */
function modelMetrics(
  registry: Registry,
  traffic: Traffic,
  health: HealthModel,
  lag: () => readonly GroupLag[],
): void {
  const windows = [
    ['1m', 60_000],
    ['5m', 300_000],
    ['15m', 900_000],
  ] as const;
  new Gauge({
    name: 'pigeon_monitor_delivered_ratio',
    help: 'Delivered receipts ÷ submissions old enough to have one, by provider, country, class and window',
    labelNames: ['provider', 'country', 'class', 'window'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [window, ms] of windows) {
        for (const { labels, stats } of traffic.series(ms, ['provider', 'country', 'class'])) {
          if (stats.deliveredRate !== undefined) this.set({ ...labels, window }, stats.deliveredRate);
        }
      }
    },
  });
  const fiveMinutes = (
    name: string,
    help: string,
    pick: (s: ReturnType<Traffic['series']>[number]['stats']) => number | undefined,
    windowMs = 300_000,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['provider', 'country', 'class'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, stats } of traffic.series(windowMs, ['provider', 'country', 'class'])) {
          const value = pick(stats);
          if (value !== undefined) this.set(labels, value);
        }
      },
    });
  fiveMinutes(
    'pigeon_monitor_submit_success_ratio',
    'Submissions ÷ submissions and provider failures over 5 minutes',
    (s) => s.submitSuccessRate,
  );
  fiveMinutes(
    'pigeon_monitor_submit_latency_p50_seconds',
    'Median submit latency over 5 minutes',
    (s) => s.submitLatencyP50Seconds,
  );
  fiveMinutes(
    'pigeon_monitor_submit_latency_p95_seconds',
    '95th percentile submit latency over 5 minutes',
    (s) => s.submitLatencyP95Seconds,
  );
  fiveMinutes(
    'pigeon_monitor_receipt_lag_p95_seconds',
    '95th percentile time from submission to delivered receipt over 15 minutes',
    (s) => s.receiptLagP95Seconds,
    900_000,
  );
  new Gauge({
    name: 'pigeon_monitor_provider_health',
    help: 'Health the monitor judges a provider to have for a country (1 healthy), where it has an opinion',
    labelNames: ['provider', 'country'],
    registers: [registry],
    collect() {
      this.reset();
      for (const h of health.snapshot()) this.set({ provider: h.provider, country: h.country }, h.health);
    },
  });
  new Gauge({
    name: 'pigeon_monitor_consumer_lag',
    help: 'Records a service consumer group has still to read, by group and topic',
    labelNames: ['group', 'topic'],
    registers: [registry],
    collect() {
      this.reset();
      for (const l of lag()) this.set({ group: l.group, topic: l.topic }, l.lag);
    },
  });
}

/** Priors for the health model's baselines; reading yesterday's rates failing only loses those. */
async function readPriors(options: MonitorOptions, logger: Logger, at: number): Promise<Prior | undefined> {
  const providers = options.providers ?? [];
  let totals: Awaited<ReturnType<BaselineStore['deliveryTotals']>> = [];
  if (options.baselineStore && options.settings.priorsFromMessages) {
    try {
      totals = await options.baselineStore.deliveryTotals(priorRange(at));
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'monitor.priors_read_failed');
    }
  }
  if (totals.length === 0 && !providers.some((p) => p.expectedDeliveredRate !== undefined)) return undefined;
  return priorsFrom(providers, totals);
}

/** How blind the monitor still is: baselines warming up, and traffic that nothing judges. */
function blindnessMetrics(
  registry: Registry,
  baselines: Baselines,
  health: HealthModel,
  now: () => number,
): void {
  new Gauge({
    name: 'pigeon_monitor_baselines_warming',
    help: 'Baseline series seen but still warming up (not yet used to judge)',
    registers: [registry],
    collect() {
      this.set(baselines.warming);
    },
  });
  new Gauge({
    name: 'pigeon_monitor_blind_seconds',
    help: 'How long a provider and country carrying traffic has had neither a usable baseline nor enough traffic for a floor',
    labelNames: ['provider', 'country'],
    registers: [registry],
    collect() {
      this.reset();
      for (const b of health.blind(now())) this.set({ provider: b.provider, country: b.country }, b.seconds);
    },
  });
}

function canaryMetrics(canary: Canary, registry: Registry): void {
  const probes = new Counter({
    name: 'pigeon_monitor_canary_probes_total',
    help: 'Canary probes finished, by provider, country and result (delivered, undelivered, failed, timeout)',
    labelNames: ['provider', 'country', 'result'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'pigeon_monitor_canary_latency_seconds',
    help: 'Canary probes from publish to delivered receipt',
    labelNames: ['provider', 'country'],
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [registry],
  });
  canary.onResult.push((target, result, latencyMs) => {
    probes.inc({ provider: target.provider, country: target.country, result });
    if (latencyMs !== undefined) {
      latency.observe({ provider: target.provider, country: target.country }, latencyMs / 1000);
    }
  });
}
