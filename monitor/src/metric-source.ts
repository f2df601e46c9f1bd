/**
 * The metrics alert rules read (rules.ts `METRICS`), computed from the monitor's models on demand:
 * traffic windows, the health model, heartbeats, consumer lag, canaries and the receipt backlog.
 */
import type { GroupLag } from '../../core/bus/lag.ts';
import type { Canary } from './canary.ts';
import type { HealthModel } from './health-model.ts';
import type { Liveness } from './liveness.ts';
import type { MetricName, MetricSample, MetricSource } from '../../alerting/rules.ts';
import type { ReceiptSampler } from './sampling.ts';
import type { Traffic, TrafficLabel, TrafficStats } from './traffic.ts';

export interface MetricParts {
  traffic: Traffic;
  health: HealthModel;
  liveness: Liveness;
  sampler: ReceiptSampler;
  canary?: Canary | undefined;
  /** The latest consumer lag reading. */
  lag: () => readonly GroupLag[];
  now?: () => number;
}

type Row = { labels: Record<string, string>; value: number; samples?: number };

const TRAFFIC: Partial<Record<MetricName, (s: TrafficStats) => [number | undefined, number]>> = {
  submit_success_rate: (s) => [s.submitSuccessRate, s.submitted + s.submitFailed],
  submit_latency_p50_seconds: (s) => [s.submitLatencyP50Seconds, s.submitted],
  submit_latency_p95_seconds: (s) => [s.submitLatencyP95Seconds, s.submitted],
  delivered_rate: (s) => [s.deliveredRate, s.matured],
  receipt_lag_p95_seconds: (s) => [s.receiptLagP95Seconds, s.delivered],
  otp_conversion_rate: (s) => [s.conversionRate, s.otpSent],
};

export class MonitorMetrics implements MetricSource {
  constructor(private readonly parts: MetricParts) {}

  series(
    metric: MetricName,
    windowMs: number,
    by: readonly string[],
    match: Readonly<Record<string, string>>,
  ): MetricSample[] {
    const traffic = TRAFFIC[metric];
    if (traffic) {
      const scope = metric === 'otp_conversion_rate' ? { ...match, class: 'otp' } : match;
      return this.parts.traffic.series(windowMs, by as TrafficLabel[], scope).flatMap(({ labels, stats }) => {
        const [value, samples] = traffic(stats);
        return value === undefined ? [] : [{ labels, value, samples }];
      });
    }
    const { liveness, health, sampler, canary } = this.parts;
    switch (metric) {
      case 'provider_health':
        return group(
          health
            .snapshot()
            .map((h) => ({ labels: { provider: h.provider, country: h.country }, value: h.health })),
          by,
          match,
          Math.min,
        );
      case 'below_floor': {
        const at = (this.parts.now ?? Date.now)();
        return group(
          health.floorStandingsNow(at).map((f) => ({
            labels: { provider: f.provider, country: f.country, signal: f.signal },
            value: f.below ? 1 : 0,
          })),
          by,
          match,
          Math.max,
        );
      }
      case 'blind_seconds': {
        const at = (this.parts.now ?? Date.now)();
        return group(
          health
            .blind(at)
            .map((b) => ({ labels: { provider: b.provider, country: b.country }, value: b.seconds })),
          by,
          match,
          Math.max,
        );
      }
      case 'breaker_state':
        return group(
          liveness
            .breakers()
            .map((b) => ({ labels: { provider: b.provider, country: b.country }, value: b.state })),
          by,
          match,
          Math.max,
        );
      case 'consumer_lag':
        return group(
          this.parts.lag().map((l) => ({ labels: { group: l.group, topic: l.topic }, value: l.lag })),
          by,
          match,
          (a, b) => a + b,
        );
      case 'heartbeat_age_seconds':
        return group(
          liveness
            .ages()
            .map((a) => ({ labels: { service: a.service, instance: a.instance }, value: a.ageSeconds })),
          by,
          match,
          Math.max,
        );
      case 'service_instances':
        return group(
          liveness.serviceCounts().map((s) => ({ labels: { service: s.service }, value: s.instances })),
          by,
          match,
          (a, b) => a + b,
        );
      case 'canary_success_rate':
      case 'canary_latency_p95_seconds': {
        const rows: Row[] = [];
        for (const s of canary?.series(windowMs) ?? []) {
          const value = metric === 'canary_success_rate' ? s.successRate : s.latencyP95Seconds;
          if (value !== undefined) {
            rows.push({ labels: { provider: s.provider, country: s.country }, value, samples: s.finished });
          }
        }
        // Coarser than per target: the worst target speaks for the group.
        return group(rows, by, match, metric === 'canary_success_rate' ? Math.min : Math.max);
      }
      case 'receipt_backlog':
        return [{ labels: {}, value: sampler.backlog, samples: 1 }];
      default:
        return [];
    }
  }
}

/** Rows filtered by `match`, merged per value of the `by` labels with `merge`. */
function group(
  rows: readonly Row[],
  by: readonly string[],
  match: Readonly<Record<string, string>>,
  merge: (a: number, b: number) => number,
): MetricSample[] {
  const groups = new Map<string, MetricSample>();
  for (const row of rows) {
    if (Object.entries(match).some(([k, v]) => v !== '*' && row.labels[k] !== v)) continue;
    const labels: Record<string, string> = {};
    for (const l of by) labels[l] = row.labels[l] ?? '';
    const key = by.map((l) => labels[l]).join('\u0000');
    const held = groups.get(key);
    const samples = row.samples ?? 1;
    if (held) {
      held.value = merge(held.value, row.value);
      held.samples += samples;
    } else groups.set(key, { labels, value: row.value, samples });
  }
  return [...groups.values()];
}
