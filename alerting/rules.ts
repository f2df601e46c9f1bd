/**
 * Alert rules: the metrics the monitor can alert on, the rule schema, the shipped defaults and the
 * evaluation of a rule against the monitor's metrics. Pure. A rule names a metric, the series it
 * covers (`match`) and how they split into incidents (`by`), one condition — an absolute
 * threshold or a drop (rise) relative to the series' own baseline — a minimum sample, how long the
 * condition must hold (`for`) and how long it must be gone to resolve (`clearFor`), a severity,
 * and who hears about it.
 *
 * Rules come from three layers, by id: the defaults below, then `alerts.rules` in PIGEON_CONFIG,
 * then the admin API (stored). A later layer replaces a rule of the same id whole; a rule with
 * `enabled: false` switches an inherited one off.
 */
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { PigeonError } from '../core/errors.ts';
import { type Baselines, baselineKey } from './baseline.ts';
import { ALERT_SEVERITIES, type AlertSeverity } from './notification.ts';

/** What a metric is about; `windowed` metrics are computed over the rule's window. */
interface MetricSpec {
  labels: readonly string[];
  /** Default split into incidents. */
  by: readonly string[];
  windowed: boolean;
  help: string;
}

export const METRICS = {
  submit_success_rate: {
    labels: ['provider', 'country', 'class'],
    by: ['provider', 'country'],
    windowed: true,
    help: 'submitted ÷ (submitted + failures the provider caused)',
  },
  submit_latency_p50_seconds: {
    labels: ['provider', 'country', 'class'],
    by: ['provider'],
    windowed: true,
    help: 'median provider submit latency',
  },
  submit_latency_p95_seconds: {
    labels: ['provider', 'country', 'class'],
    by: ['provider'],
    windowed: true,
    help: '95th percentile provider submit latency',
  },
  delivered_rate: {
    labels: ['provider', 'country', 'class'],
    by: ['provider', 'country'],
    windowed: true,
    help: 'delivered receipts ÷ submissions old enough to have one',
  },
  receipt_lag_p95_seconds: {
    labels: ['provider', 'country', 'class'],
    by: ['provider', 'country'],
    windowed: true,
    help: '95th percentile time from submission to delivered receipt',
  },
  otp_conversion_rate: {
    labels: ['provider', 'country'],
    by: ['provider', 'country'],
    windowed: true,
    help: 'verification codes approved ÷ sent',
  },
  provider_health: {
    labels: ['provider', 'country'],
    by: ['provider', 'country'],
    windowed: false,
    help: 'the health the monitor publishes (1 healthy, 0 dead)',
  },
  below_floor: {
    labels: ['provider', 'country', 'signal'],
    by: ['provider', 'country'],
    windowed: false,
    help: '1 where a provider delivers (signal delivered_rate) or converts (otp_conversion_rate) at or near nothing, judged by the absolute floors before any baseline exists; 0 where a floor judges it fine',
  },
  blind_seconds: {
    labels: ['provider', 'country'],
    by: ['provider', 'country'],
    windowed: false,
    help: 'how long a provider and country carrying traffic has had neither a usable baseline nor enough traffic for a floor',
  },
  breaker_state: {
    labels: ['provider', 'country'],
    by: ['provider', 'country'],
    windowed: false,
    help: 'worst breaker state over the bridges: 0 closed, 1 half-open, 2 open',
  },
  consumer_lag: {
    labels: ['group', 'topic'],
    by: ['group', 'topic'],
    windowed: false,
    help: 'records a consumer group has still to read',
  },
  heartbeat_age_seconds: {
    labels: ['service', 'instance'],
    by: ['service', 'instance'],
    windowed: false,
    help: 'time since a service instance last reported',
  },
  service_instances: {
    labels: ['service'],
    by: ['service'],
    windowed: false,
    help: 'instances of a service reporting heartbeats',
  },
  canary_success_rate: {
    labels: ['provider', 'country'],
    by: ['provider', 'country'],
    windowed: true,
    help: 'canary probes delivered ÷ probes finished',
  },
  canary_latency_p95_seconds: {
    labels: ['provider', 'country'],
    by: ['provider', 'country'],
    windowed: true,
    help: '95th percentile canary latency from publish to delivered receipt',
  },
  receipt_backlog: {
    labels: [],
    by: [],
    windowed: false,
    help: 'receipts waiting for the monitor (peak protection samples bulk receipts above its threshold)',
  },
} as const satisfies Record<string, MetricSpec>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];
const LABEL_NAMES = [...new Set(Object.values(METRICS).flatMap((m) => m.labels as readonly string[]))];

/** Windows longer than this are not kept (monitor/src/traffic.ts horizon). */
export const MAX_WINDOW_MS = 15 * 60_000;

/** A rule's `escalation` that keeps it off the `default` escalation policy. */
export const NO_ESCALATION = 'none';

export const RULE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const DURATION = Type.String({ pattern: '^[0-9]{1,6}(ms|s|m|h|d)$', description: 'e.g. 30s, 5m, 1h' });

const ruleProperties = {
  metric: Type.Enum(METRIC_NAMES),
  description: Type.Optional(Type.String({ maxLength: 500 })),
  window: Type.Optional(DURATION),
  match: Type.Optional(
    Type.Record(Type.String({ pattern: '^[a-z]+$' }), Type.String({ minLength: 1, maxLength: 128 }), {
      description: "Label values the series must have ('*' for any)",
    }),
  ),
  by: Type.Optional(Type.Array(Type.String(), { maxItems: 4, description: 'Labels that split incidents' })),
  below: Type.Optional(Type.Number()),
  above: Type.Optional(Type.Number()),
  belowBaseline: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Fires below this share of the baseline' }),
  ),
  aboveBaseline: Type.Optional(
    Type.Number({ minimum: 1, maximum: 1000, description: 'Fires above this multiple of the baseline' }),
  ),
  minSamples: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  for: Type.Optional(DURATION),
  clearFor: Type.Optional(DURATION),
  severity: Type.Enum(ALERT_SEVERITIES),
  channels: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 16 })),
  escalation: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  reminder: Type.Optional(DURATION),
  runbook: Type.Optional(Type.String({ maxLength: 500 })),
  enabled: Type.Optional(Type.Boolean()),
};

/** A rule as written in PIGEON_CONFIG or sent to the admin API. */
export const AlertRuleSchema = Type.Object(
  { id: Type.String({ pattern: RULE_ID_PATTERN }), ...ruleProperties },
  { additionalProperties: false },
);
export type AlertRule = Static<typeof AlertRuleSchema>;
/** A rule in an API body (the id is in the path). */
export const AlertRuleBody = Type.Object(ruleProperties, { additionalProperties: false });

const ruleCheck = Compile(AlertRuleSchema);

/** A rule ready to evaluate: durations in ms, defaults filled in. */
export interface CompiledRule {
  readonly id: string;
  readonly rule: AlertRule;
  readonly metric: MetricName;
  readonly windowMs: number;
  readonly match: Readonly<Record<string, string>>;
  readonly by: readonly string[];
  readonly condition:
    { kind: 'below' | 'above'; value: number } | { kind: 'belowBaseline' | 'aboveBaseline'; value: number };
  readonly minSamples: number;
  readonly forMs: number;
  readonly clearForMs: number;
  readonly severity: AlertSeverity;
  /** Undefined: the configuration's default channels. */
  readonly channels: readonly string[] | undefined;
  readonly escalation: string | undefined;
  /** 0: no reminders. */
  readonly reminderMs: number;
  readonly enabled: boolean;
}

const DEFAULT_REMINDER: Record<AlertSeverity, string> = { critical: '1h', warning: '4h', info: '0s' };

/** Parses `30s`, `5m`, `1h`… into ms. */
export function durationMs(text: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new PigeonError('PIGEON_ERR_VALIDATION', `"${text}" is not a duration such as 30s or 5m`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms'];
  return Number(match[1]) * unit;
}

/**
 * Checks a rule from any source and compiles it. Throws PIGEON_ERR_VALIDATION naming every problem;
 * `channels` and `escalations`, when given, are the names a rule may refer to.
 */
export function compileRule(
  value: unknown,
  known: { channels?: readonly string[]; escalations?: readonly string[] } = {},
): CompiledRule {
  if (!ruleCheck.Check(value)) {
    const errors = ruleCheck.Errors(value).map((e) => ({ field: e.instancePath || '/', message: e.message }));
    throw invalid(errors);
  }
  const rule = value;
  const spec: MetricSpec = METRICS[rule.metric];
  const errors: Array<{ field: string; message: string }> = [];
  const conditions = (['below', 'above', 'belowBaseline', 'aboveBaseline'] as const).filter(
    (c) => rule[c] !== undefined,
  );
  if (conditions.length !== 1) {
    errors.push({ field: '/', message: 'exactly one of below, above, belowBaseline, aboveBaseline' });
  }
  for (const label of [...(rule.by ?? []), ...Object.keys(rule.match ?? {})]) {
    if (!spec.labels.includes(label)) {
      errors.push({
        field: '/by',
        message: `${rule.metric} has no label "${label}" (it has ${spec.labels.join(', ') || 'none'})`,
      });
    }
  }
  const windowMs = rule.window ? durationMs(rule.window) : 5 * 60_000;
  if (spec.windowed && (windowMs < 10_000 || windowMs > MAX_WINDOW_MS)) {
    errors.push({ field: '/window', message: 'from 10s to 15m' });
  }
  for (const channel of rule.channels ?? []) {
    if (known.channels && !known.channels.includes(channel)) {
      errors.push({ field: '/channels', message: `no channel named "${channel}" is configured` });
    }
  }
  if (
    rule.escalation &&
    rule.escalation !== NO_ESCALATION &&
    known.escalations &&
    !known.escalations.includes(rule.escalation)
  ) {
    errors.push({ field: '/escalation', message: `no escalation named "${rule.escalation}" is configured` });
  }
  if (errors.length > 0) throw invalid(errors);
  const kind = conditions[0]!;
  return {
    id: rule.id,
    rule,
    metric: rule.metric,
    windowMs,
    match: rule.match ?? {},
    by: rule.by ?? spec.by,
    condition: { kind, value: rule[kind]! },
    minSamples: rule.minSamples ?? 1,
    forMs: rule.for ? durationMs(rule.for) : 0,
    clearForMs: durationMs(rule.clearFor ?? '1m'),
    severity: rule.severity,
    channels: rule.channels,
    escalation: rule.escalation,
    reminderMs: durationMs(rule.reminder ?? DEFAULT_REMINDER[rule.severity]),
    enabled: rule.enabled ?? true,
  };
}

function invalid(errors: Array<{ field: string; message: string }>): PigeonError {
  return new PigeonError(
    'PIGEON_ERR_VALIDATION',
    `alert rule is invalid: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`,
    { errors },
  );
}

/** The rules in force: later layers replace earlier rules of the same id. */
export function mergeRules(...layers: ReadonlyArray<readonly AlertRule[]>): AlertRule[] {
  const byId = new Map<string, AlertRule>();
  for (const layer of layers) for (const rule of layer) byId.set(rule.id, rule);
  return [...byId.values()];
}

/** One series of a metric: its labels, value and how many observations it rests on. */
export interface MetricSample {
  labels: Record<string, string>;
  value: number;
  samples: number;
}

/** Where rules read metrics (monitor/src/metric-source.ts). */
export interface MetricSource {
  /**
   * Series of `metric` over `windowMs` (ignored by instant metrics), restricted to `match`, one per
   * distinct value of the `by` labels.
   */
  series(
    metric: MetricName,
    windowMs: number,
    by: readonly string[],
    match: Readonly<Record<string, string>>,
  ): MetricSample[];
}

/** What a rule says about one of its series now. */
export interface SeriesEvaluation {
  /** Rule id and series labels: the identity of an incident. */
  fingerprint: string;
  labels: Record<string, string>;
  value: number;
  samples: number;
  /** The threshold the value was compared with (a baseline multiple for relative rules). */
  threshold: number | undefined;
  baseline: number | undefined;
  /** Undefined: not enough data to say either way. */
  breaching: boolean | undefined;
}

export function fingerprintOf(ruleId: string, labels: Readonly<Record<string, string>>): string {
  return baselineKey(ruleId, labels);
}

/**
 * Evaluates a rule over every series it covers. A relative rule compares each series with its
 * baseline over the same window — a 1-minute delivered rate runs lower than a 15-minute one
 * (fewer late receipts in), so only like compares with like — and feeds that baseline (slowly
 * while the series breaches, see Baselines). A series whose baseline is still warming up, or
 * with fewer than `minSamples` observations, has no verdict.
 */
export function evaluateRule(
  rule: CompiledRule,
  source: MetricSource,
  baselines: Baselines,
  now: number,
): SeriesEvaluation[] {
  const relative = rule.condition.kind === 'belowBaseline' || rule.condition.kind === 'aboveBaseline';
  const below = rule.condition.kind === 'below' || rule.condition.kind === 'belowBaseline';
  const results: SeriesEvaluation[] = [];
  for (const sample of source.series(rule.metric, rule.windowMs, rule.by, rule.match)) {
    const key = relative ? baselineKey(rule.metric, sample.labels, rule.windowMs) : '';
    const baseline = relative ? baselines.get(key) : undefined;
    const threshold = relative
      ? baseline === undefined
        ? undefined
        : baseline * rule.condition.value
      : rule.condition.value;
    const enough = sample.samples >= rule.minSamples;
    const breaching =
      threshold === undefined || !enough
        ? undefined
        : below
          ? sample.value < threshold
          : sample.value > threshold;
    if (relative && enough) baselines.observe(key, sample.value, now, breaching === true);
    results.push({
      fingerprint: fingerprintOf(rule.id, sample.labels),
      labels: sample.labels,
      value: sample.value,
      samples: sample.samples,
      threshold,
      baseline,
      breaching,
    });
  }
  return results;
}

export { LABEL_NAMES };
