/**
 * The monitor's clock tick: judge provider health and publish `provider.health`, evaluate the
 * alert rules, move incidents along and notify, store them, send due canaries. Every replica
 * runs the models (so a standby's baselines are warm); only the lease holder publishes,
 * notifies, stores and probes. Rules, silences and acknowledgements written through the admin
 * API are read back from the store on every tick; incidents are stored as they change, so a
 * restarted or newly elected monitor carries on where the last one stopped.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../core/logger.ts';
import { type HealthBoard, type ProviderHealth, providerHealthEvent } from '../../core/provider-health.ts';
import type { IncidentRecord } from '../../core/store/kinds/alerts.ts';
import type { AlertStore } from '../../core/store/kinds/alerts.ts';
import type { AlertingSetup } from '../../alerting/config.ts';
import type { Baselines } from '../../alerting/baseline.ts';
import type { Canary } from './canary.ts';
import type { ClassCounts } from './floors.ts';
import type { HealthModel, RateSample, RateSource } from './health-model.ts';
import type { Incident } from '../../alerting/incident.ts';
import { IncidentEngine } from '../../alerting/incident-engine.ts';
import type { Notifier } from '../../alerting/notifier.ts';
import {
  type AlertRule,
  type CompiledRule,
  compileRule,
  evaluateRule,
  mergeRules,
  type MetricSource,
} from '../../alerting/rules.ts';
import type { Traffic } from './traffic.ts';

/** What the tick reads and writes in the store. */
/** What the alerting tick reads and writes in the store. */
export type AlertingStore = Pick<
  AlertStore,
  'listAlertRules' | 'listSilences' | 'listIncidents' | 'putIncidents'
>;

export interface AlertingOptions {
  setup: AlertingSetup;
  notifier: Notifier;
  metrics: MetricSource;
  traffic: Traffic;
  health: HealthModel;
  baselines: Baselines;
  publishHealth: (verdicts: readonly ProviderHealth[]) => Promise<void>;
  store?: AlertingStore | undefined;
  /** Verdicts in force (the compacted topic), to continue from after taking over. */
  board?: HealthBoard | undefined;
  canary?: Canary | undefined;
  /** Whether this replica acts; absent: always. */
  leadership?: { renew(): Promise<boolean> } | undefined;
  registry: Registry;
  logger: Logger;
  url?: string | undefined;
  now?: () => number;
  random?: () => number;
  /** Runs first when this replica becomes the acting one (the monitor reloads kept baselines). */
  onTakeOver?: (() => Promise<void>) | undefined;
}

/** The traffic's rates as the health model reads them, per provider and country (and class, for the floors). */
export function rateSource(traffic: Traffic): RateSource {
  return (signal, windowMs) => {
    const delivered = signal === 'delivered_rate';
    const samples = new Map<string, RateSample & { classes: Record<string, ClassCounts> }>();
    const series = traffic.series(
      windowMs,
      ['provider', 'country', 'class'],
      delivered ? {} : { class: 'otp' },
    );
    for (const { labels, stats } of series) {
      // provider.health speaks of ISO countries: messages whose country is unknown judge nothing.
      if (!/^[A-Z]{2}$/.test(labels.country!)) continue;
      const successes = delivered ? stats.delivered : stats.otpApproved;
      const trials = delivered ? stats.matured : stats.otpSent;
      if (trials <= 0) continue;
      const key = `${labels.provider}\u0000${labels.country}`;
      let sample = samples.get(key);
      if (!sample) {
        sample = {
          provider: labels.provider!,
          country: labels.country!,
          successes: 0,
          trials: 0,
          classes: {},
        };
        samples.set(key, sample);
      }
      sample.successes += successes;
      sample.trials += trials;
      sample.classes[labels.class!] = { successes, trials };
    }
    return [...samples.values()];
  };
}

export class Alerting {
  readonly engine: IncidentEngine;
  private rules: CompiledRule[] = [];
  private storedRulesJson = '';
  private leader = false;
  private pendingWrites = new Map<string, IncidentRecord>();
  private lastPrune = 0;
  private readonly now: () => number;
  private readonly options: AlertingOptions;

  constructor(options: AlertingOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.engine = new IncidentEngine({
      notifier: options.notifier,
      defaultChannels: options.setup.defaultChannels,
      policies: options.setup.policies,
      url: options.url,
      now: this.now,
      ...(options.random ? { random: options.random } : {}),
      onError: (err, notification, channels) =>
        options.logger.error(
          {
            err: (err as Error).message,
            incidentId: notification.incidentId,
            kind: notification.kind,
            channels,
          },
          'monitor.notification_failed',
        ),
    });
    this.applyRules([]);
    const engine = this.engine;
    const isLeader = () => this.leader;
    new Gauge({
      name: 'pigeon_monitor_incidents',
      help: 'Incidents open in this monitor, by state and severity',
      labelNames: ['state', 'severity'],
      registers: [options.registry],
      collect() {
        this.reset();
        for (const i of engine.list()) this.inc({ state: i.state, severity: i.severity });
      },
    });
    new Gauge({
      name: 'pigeon_monitor_leader',
      help: '1 on the monitor replica that publishes health and sends notifications',
      registers: [options.registry],
      collect() {
        this.set(isLeader() ? 1 : 0);
      },
    });
  }

  /** The rules in force (defaults, configuration, admin API). */
  get activeRules(): readonly CompiledRule[] {
    return this.rules;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  async tick(): Promise<void> {
    const { options } = this;
    const now = this.now();
    const leader = options.leadership ? await options.leadership.renew() : true;
    if (leader && !this.leader) await this.takeOver();
    this.leader = leader;

    if (options.store) await this.syncFromStore(now);

    const verdicts = options.health.update(rateSource(options.traffic), now);
    const evaluations = this.rules.map((rule) => ({
      rule,
      series: evaluateRule(rule, options.metrics, options.baselines, now),
    }));
    if (now - this.lastPrune >= 60_000) {
      this.lastPrune = now;
      options.traffic.prune();
      options.baselines.prune(now);
    }
    if (!leader) return;

    if (verdicts.length > 0) {
      try {
        await options.publishHealth(verdicts.map((v) => providerHealthEvent(v, now)));
      } catch (err) {
        // The next change or refresh publishes again; a verdict is never more than a minute stale.
        options.logger.warn({ err: (err as Error).message }, 'monitor.health_publish_failed');
        options.health.republish();
      }
    }
    for (const { rule, series } of evaluations) this.engine.observe(rule.id, series);
    await this.engine.flush();
    await this.persist();
    await options.canary?.tick();
  }

  /** Stops acting (on shutdown); the store already holds every incident. */
  async standDown(): Promise<void> {
    await this.persist();
    this.leader = false;
  }

  /**
   * Becoming the acting replica: take over the stored open incidents and repeat every health
   * verdict, continuing any recovery the previous one had under way.
   */
  private async takeOver(): Promise<void> {
    const { options } = this;
    await options.onTakeOver?.();
    for (const v of options.board?.snapshot() ?? []) {
      options.health.seed(v.provider, v.country, v.health, Date.parse(v.occurredAt));
    }
    options.health.republish();
    if (!options.store) return;
    try {
      const open = await options.store.listIncidents({ open: true, limit: 1000 });
      this.engine.restore(open.map(incidentFromRecord));
      options.logger.info({ incidents: open.length }, 'monitor.took_over');
    } catch (err) {
      options.logger.error({ err: (err as Error).message }, 'monitor.restore_failed');
    }
  }

  private async syncFromStore(now: number): Promise<void> {
    const store = this.options.store!;
    try {
      const [stored, silences, open] = await Promise.all([
        store.listAlertRules(),
        store.listSilences(now),
        this.leader ? store.listIncidents({ open: true, limit: 1000 }) : Promise.resolve([]),
      ]);
      const json = JSON.stringify(stored.map((r) => r.definition));
      if (json !== this.storedRulesJson) {
        this.storedRulesJson = json;
        this.applyRules(stored.map((r) => r.definition as AlertRule));
      }
      this.engine.setSilences(silences);
      for (const record of open) {
        if (record.ackedAt === null) continue;
        try {
          this.engine.acknowledge(record.id, record.ackedBy ?? 'api', record.ackedAt);
        } catch {
          // Resolved here meanwhile: nothing left to acknowledge.
        }
      }
    } catch (err) {
      // The store down must not stop alerting: the last rules and silences stand.
      this.options.logger.warn({ err: (err as Error).message }, 'monitor.store_sync_failed');
    }
  }

  private applyRules(stored: readonly AlertRule[]): void {
    const { setup, logger } = this.options;
    const known = { channels: setup.channels, escalations: setup.policies.map((p) => p.id) };
    const compiled: CompiledRule[] = [];
    for (const rule of mergeRules(setup.layers.defaults, setup.layers.config, stored)) {
      try {
        compiled.push(compileRule(rule, known));
      } catch (err) {
        // Checked by the API when written; one that no longer fits the configuration is skipped.
        logger.error({ rule: rule.id, err: (err as Error).message }, 'monitor.rule_invalid');
      }
    }
    this.rules = compiled.filter((r) => r.enabled);
    this.engine.setRules(this.rules);
  }

  private async persist(): Promise<void> {
    const { store, logger } = this.options;
    const now = this.now();
    for (const incident of this.engine.takeChanged()) {
      this.pendingWrites.set(incident.id, incidentToRecord(incident, now));
    }
    if (!store || this.pendingWrites.size === 0) return;
    const writes = [...this.pendingWrites.values()];
    try {
      await store.putIncidents(writes);
      for (const w of writes) if (this.pendingWrites.get(w.id) === w) this.pendingWrites.delete(w.id);
    } catch (err) {
      logger.warn({ err: (err as Error).message, incidents: writes.length }, 'monitor.incident_write_failed');
    }
  }
}

export function incidentToRecord(incident: Incident, now: number): IncidentRecord {
  return {
    id: incident.id,
    ruleId: incident.ruleId,
    fingerprint: incident.fingerprint,
    state: incident.state,
    severity: incident.severity,
    labels: incident.labels,
    startedAt: incident.pendingSince,
    firedAt: incident.firedAt ?? null,
    resolvedAt: incident.resolvedAt ?? null,
    ackCode: incident.ackCode,
    ackedAt: incident.ackedAt ?? null,
    ackedBy: incident.ackedBy ?? null,
    detail: incident as unknown as Record<string, unknown>,
    updatedAt: now,
  };
}

export function incidentFromRecord(record: IncidentRecord): Incident {
  const incident = { ...(record.detail as unknown as Incident) };
  incident.state = record.state;
  if (record.ackedAt !== null) {
    incident.ackedAt = record.ackedAt;
    incident.ackedBy = record.ackedBy ?? 'api';
  }
  return incident;
}
