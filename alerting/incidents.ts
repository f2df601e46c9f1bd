/**
 * The incident lifecycle: pending → firing → resolved, with acknowledgement, silences, reminders
 * and an escalation chain. An incident is one series of one rule (the rule's `by` labels) from
 * the first breach to its resolution; a breach after that is a new incident.
 *
 * The lifecycle is the table TRANSITIONS, driven by signals derived from each evaluation
 * (`signalFor`); what to tell whom is `dueNotifications`, also pure. IncidentEngine applies both
 * and reports which incidents changed, for the store.
 *
 * Whom to tell is a list of steps: step 0 is the rule's channels, the later ones the escalation
 * policy's. Each step's channels are a fallback chain (the Notifier tries them in order until one
 * takes the notification), so every step hears of an incident once per kind, and a step whose
 * chain is down is retried later without repeating the others.
 */
import { PigeonError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { backoffDelay, isPermanent, type ScheduleBackoff } from '../core/retry.ts';
import type { AlertNotification, AlertSeverity, NotificationKind } from './notification.ts';
import type { Notifier } from './notifier.ts';
import type { CompiledRule, MetricName, SeriesEvaluation } from './rules.ts';

export const INCIDENT_STATES = ['pending', 'firing', 'resolved'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];
/** `none`: no incident (yet, or any more for a pending one that cleared). */
export type Phase = 'none' | IncidentState;

export const SIGNALS = [
  'breach',
  /** Breaching for at least the rule's `for`. */
  'breach_held',
  'clear',
  /** Clear for at least the rule's `clearFor`. */
  'clear_held',
  /** Too few samples, or the series is gone: nothing changes… */
  'no_data',
  /** …until that lasted `noDataMs`. */
  'no_data_expired',
  'ack',
] as const;
export type Signal = (typeof SIGNALS)[number];

/** Every phase × signal; null: the signal is refused in that phase (acknowledging nothing). */
export const TRANSITIONS: Readonly<Record<Phase, Readonly<Record<Signal, Phase | null>>>> = {
  none: {
    breach: 'pending',
    breach_held: 'firing',
    clear: 'none',
    clear_held: 'none',
    no_data: 'none',
    no_data_expired: 'none',
    ack: null,
  },
  pending: {
    breach: 'pending',
    breach_held: 'firing',
    clear: 'none',
    clear_held: 'none',
    no_data: 'pending',
    no_data_expired: 'none',
    ack: 'pending',
  },
  firing: {
    breach: 'firing',
    breach_held: 'firing',
    clear: 'firing',
    clear_held: 'resolved',
    no_data: 'firing',
    no_data_expired: 'resolved',
    ack: 'firing',
  },
  // Final: a new breach opens a new incident.
  resolved: {
    breach: 'resolved',
    breach_held: 'resolved',
    clear: 'resolved',
    clear_held: 'resolved',
    no_data: 'resolved',
    no_data_expired: 'resolved',
    ack: null,
  },
};

/** What one escalation step (its chain of channels) has been told about an incident. */
export interface StepRecord {
  /** The chain it was told through, so it hears the end even if the rule changed meanwhile. */
  channels?: string[];
  /** When it got the firing (or escalation) notice. */
  notifiedAt?: number;
  /** Last notice of any kind, for reminders. */
  lastAt?: number;
  resolvedAt?: number;
  /** Consecutive failed deliveries and when to try again. */
  failures?: number;
  retryAt?: number;
  /** Every channel of the step refused for good (unknown channel, bad URL): not tried again. */
  abandonedAt?: number;
}

export interface Incident {
  id: string;
  ruleId: string;
  fingerprint: string;
  metric: MetricName;
  labels: Record<string, string>;
  severity: AlertSeverity;
  state: IncidentState;
  /** First breach. */
  pendingSince: number;
  firedAt?: number;
  resolvedAt?: number;
  /** Why it resolved: recovered, no data, rule removed. */
  resolution?: string;
  /** Last evaluation with a verdict. */
  lastDataAt: number;
  /** Start of the current clear stretch while firing. */
  clearSince?: number;
  value: number;
  /** Worst value seen while breaching. */
  worstValue: number;
  threshold?: number;
  baseline?: number;
  samples: number;
  /** Short code for acknowledging by SMS reply ("ACK 4821"); unique among open incidents. */
  ackCode: string;
  ackedAt?: number;
  ackedBy?: string;
  /** When the first firing notice went out (silenced incidents: later); escalation counts from it. */
  announcedAt?: number;
  /** Highest escalation step told (step 0 is the rule's own channels). */
  escalationStep: number;
  /** By step index. */
  steps: Record<string, StepRecord>;
}

export interface EscalationStep {
  /** After this long unacknowledged since the incident was announced (0: with the announcement). */
  afterMs: number;
  /** A fallback chain; empty: the Notifier's default chain (every configured channel in order). */
  channels: readonly string[];
}

export interface EscalationPolicy {
  id: string;
  steps: readonly EscalationStep[];
}

export interface Silence {
  id: string;
  /** Label values an incident must have; `rule` and `severity` match those. '*' matches anything. */
  matchers: Record<string, string>;
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  createdAt: number;
}

/** The signal an evaluation gives an incident in `phase` (pure). */
export function signalFor(
  incident: Pick<Incident, 'state' | 'pendingSince' | 'clearSince' | 'lastDataAt'> | undefined,
  breaching: boolean | undefined,
  rule: Pick<CompiledRule, 'forMs' | 'clearForMs'>,
  noDataMs: number,
  now: number,
): Signal {
  if (breaching === true) {
    const since = incident?.state === 'pending' ? incident.pendingSince : now;
    return now - since >= rule.forMs ? 'breach_held' : 'breach';
  }
  if (breaching === false) {
    if (incident?.state !== 'firing') return 'clear';
    const since = incident.clearSince ?? now;
    return now - since >= rule.clearForMs ? 'clear_held' : 'clear';
  }
  if (incident && now - incident.lastDataAt >= noDataMs) return 'no_data_expired';
  return 'no_data';
}

/** The silence in force for an incident, if any (pure). */
export function silenceFor(
  incident: Pick<Incident, 'ruleId' | 'severity' | 'labels'>,
  silences: readonly Silence[],
  now: number,
): Silence | undefined {
  const labels: Record<string, string> = {
    ...incident.labels,
    rule: incident.ruleId,
    severity: incident.severity,
  };
  return silences.find(
    (s) =>
      s.startsAt <= now &&
      now < s.endsAt &&
      Object.entries(s.matchers).every(([k, v]) => v === '*' || labels[k] === v),
  );
}

export interface Due {
  kind: NotificationKind;
  step: number;
  channels: readonly string[];
}

/**
 * What is owed to whom now (pure): the firing notice to step 0 (the rule's channels), each later
 * step once it came due while nobody acknowledged, reminders to every step told, and the resolved
 * notice to every step told. A silence holds back everything but resolved notices: whoever was
 * told an incident began is told it ended.
 */
export function dueNotifications(
  incident: Incident,
  steps: readonly EscalationStep[],
  reminderMs: number,
  silenced: boolean,
  now: number,
): Due[] {
  const due: Due[] = [];
  const record = (step: number): StepRecord | undefined => incident.steps[String(step)];
  const ready = (step: number) => {
    const r = record(step);
    return r?.abandonedAt === undefined && (r?.retryAt ?? 0) <= now;
  };
  if (incident.state === 'resolved') {
    for (const [index, r] of Object.entries(incident.steps)) {
      const step = Number(index);
      if (r.notifiedAt !== undefined && r.resolvedAt === undefined && ready(step)) {
        due.push({ kind: 'resolved', step, channels: r.channels ?? steps[step]?.channels ?? [] });
      }
    }
    return due;
  }
  if (incident.state !== 'firing' || silenced) return due;
  const announcedAt = incident.announcedAt ?? now;
  const acked = incident.ackedAt !== undefined;
  steps.forEach((step, index) => {
    const r = record(index);
    if (!ready(index)) return;
    if (r?.notifiedAt === undefined) {
      const first = index === 0 || step.afterMs === 0;
      if (first || (!acked && now - announcedAt >= step.afterMs)) {
        due.push({ kind: first ? 'firing' : 'escalation', step: index, channels: step.channels });
      }
    } else if (!acked && reminderMs > 0 && now - (r.lastAt ?? r.notifiedAt) >= reminderMs) {
      due.push({ kind: 'reminder', step: index, channels: r.channels ?? step.channels });
    }
  });
  return due;
}

export interface IncidentEngineOptions {
  notifier: Notifier;
  /** Channels of rules that name none (empty: the Notifier's default chain). */
  defaultChannels: readonly string[];
  policies?: readonly EscalationPolicy[];
  /** How long a series may have no verdict before its incident resolves as "no data". Default 30 min. */
  noDataMs?: number;
  /** Link to a dashboard or runbook, added to every notification. */
  url?: string;
  now?: () => number;
  random?: () => number;
  onError?: (err: unknown, notification: AlertNotification, channels: readonly string[]) => void;
}

/** Waits before notifying again after a notification failed; the last one repeats. */
const NOTIFY_RETRY: ScheduleBackoff = {
  kind: 'schedule',
  stepsMs: [10_000, 30_000, 60_000, 120_000, 300_000],
  jitter: 0,
};

export class IncidentEngine {
  /** Open incidents (pending, firing) by fingerprint: at most one per series. */
  private readonly open = new Map<string, Incident>();
  /** Resolved incidents still owing resolved notices, by id. */
  private readonly closing = new Map<string, Incident>();
  private readonly rules = new Map<string, CompiledRule>();
  private readonly policies: Map<string, EscalationPolicy>;
  /** Incidents to write to the store, by id. */
  private readonly changed = new Map<string, Incident>();
  private readonly sending = new Set<string>();
  private silences: readonly Silence[] = [];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly noDataMs: number;

  constructor(private readonly options: IncidentEngineOptions) {
    this.policies = new Map((options.policies ?? []).map((p) => [p.id, p]));
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.noDataMs = options.noDataMs ?? 30 * 60_000;
  }

  /** The rules in force; open incidents of a rule that is gone or disabled resolve. */
  setRules(rules: readonly CompiledRule[]): void {
    this.rules.clear();
    for (const rule of rules) if (rule.enabled) this.rules.set(rule.id, rule);
    const now = this.now();
    for (const incident of [...this.open.values()]) {
      if (this.rules.has(incident.ruleId)) continue;
      if (incident.state === 'pending') this.drop(incident);
      else this.resolve(incident, now, 'rule removed or disabled');
    }
  }

  setSilences(silences: readonly Silence[]): void {
    this.silences = silences;
  }

  /** Takes back open incidents after a restart or a change of leader. */
  restore(incidents: readonly Incident[]): void {
    for (const incident of incidents) {
      if (incident.state === 'resolved' || this.open.has(incident.fingerprint)) continue;
      this.open.set(incident.fingerprint, structuredClone(incident));
    }
  }

  /** Applies one evaluation of a rule; open incidents of series it no longer reports get no_data. */
  observe(ruleId: string, evaluations: readonly SeriesEvaluation[]): void {
    const rule = this.rules.get(ruleId);
    if (!rule) return;
    const now = this.now();
    const seen = new Set<string>();
    for (const evaluation of evaluations) {
      seen.add(evaluation.fingerprint);
      this.apply(rule, evaluation.fingerprint, evaluation, now);
    }
    for (const incident of [...this.open.values()]) {
      if (incident.ruleId === ruleId && !seen.has(incident.fingerprint)) {
        this.apply(rule, incident.fingerprint, undefined, now);
      }
    }
  }

  /**
   * Acknowledges an open incident by id or SMS code: reminders and escalation stop. Throws
   * PIGEON_ERR_NOT_FOUND, or PIGEON_ERR_CONFLICT for a resolved one.
   */
  acknowledge(idOrCode: string, by: string, at = this.now()): Incident {
    const incident = [...this.open.values()].find((i) => i.id === idOrCode || i.ackCode === idOrCode);
    if (!incident) {
      if (this.closing.has(idOrCode)) {
        throw new PigeonError('PIGEON_ERR_CONFLICT', `Incident ${idOrCode} is already resolved`);
      }
      throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No open incident ${idOrCode}`);
    }
    if (TRANSITIONS[incident.state].ack === null) {
      throw new PigeonError('PIGEON_ERR_CONFLICT', `Incident ${incident.id} is ${incident.state}`);
    }
    if (incident.ackedAt === undefined) {
      incident.ackedAt = at;
      incident.ackedBy = by;
      this.changed.set(incident.id, incident);
    }
    return structuredClone(incident);
  }

  /** Sends what is due; resolves once every attempt settled (failures are retried on a later call). */
  async flush(): Promise<void> {
    const now = this.now();
    const sends: Promise<void>[] = [];
    for (const incident of [...this.open.values(), ...this.closing.values()]) {
      const rule = this.rules.get(incident.ruleId);
      const silenced = silenceFor(incident, this.silences, now) !== undefined;
      const steps = this.stepsOf(rule);
      for (const item of dueNotifications(incident, steps, rule?.reminderMs ?? 0, silenced, now)) {
        const key = `${incident.id}|${item.step}`;
        if (this.sending.has(key)) continue;
        this.sending.add(key);
        sends.push(this.send(incident, item, rule, now).finally(() => this.sending.delete(key)));
      }
    }
    await Promise.all(sends);
    for (const [id, incident] of this.closing) {
      if (!owesResolved(incident)) this.closing.delete(id); // everyone told; the store keeps it
    }
  }

  /** Whom a rule's incidents are told of: its channels, then its escalation policy's steps. */
  private stepsOf(rule: CompiledRule | undefined): EscalationStep[] {
    const policy = this.policies.get(rule?.escalation ?? 'default');
    return [
      { afterMs: 0, channels: rule?.channels ?? this.options.defaultChannels },
      ...(policy?.steps ?? []),
    ];
  }

  /** Incidents changed since the last call, for the store. */
  takeChanged(): Incident[] {
    const result = [...this.changed.values()].map((i) => structuredClone(i));
    this.changed.clear();
    return result;
  }

  /** Open incidents, and resolved ones still owing notices. */
  list(): Incident[] {
    return [...this.open.values(), ...this.closing.values()].map((i) => structuredClone(i));
  }

  private apply(
    rule: CompiledRule,
    fingerprint: string,
    evaluation: SeriesEvaluation | undefined,
    now: number,
  ): void {
    const incident = this.open.get(fingerprint);
    const phase: Phase = incident?.state ?? 'none';
    const signal = signalFor(incident, evaluation?.breaching, rule, this.noDataMs, now);
    const next = TRANSITIONS[phase][signal];
    if (next === null || next === 'none') {
      if (incident) this.drop(incident);
      return;
    }
    const current = incident ?? this.openIncident(rule, fingerprint, evaluation!, now);
    if (evaluation && evaluation.breaching !== undefined) {
      current.lastDataAt = now;
      current.value = evaluation.value;
      current.samples = evaluation.samples;
      if (evaluation.threshold !== undefined) current.threshold = evaluation.threshold;
      if (evaluation.baseline !== undefined) current.baseline = evaluation.baseline;
      if (evaluation.breaching && worse(rule, evaluation.value, current.worstValue)) {
        current.worstValue = evaluation.value;
      }
    }
    if (next === 'resolved') {
      this.resolve(current, now, signal === 'no_data_expired' ? 'no data' : 'recovered');
      return;
    }
    if (next === 'firing' && current.state === 'pending') {
      current.state = 'firing';
      current.firedAt = now;
      this.changed.set(current.id, current);
    }
    if (current.state === 'firing') {
      const clearing = signal === 'clear';
      if (clearing && current.clearSince === undefined) {
        current.clearSince = now;
        this.changed.set(current.id, current);
      } else if ((signal === 'breach' || signal === 'breach_held') && current.clearSince !== undefined) {
        delete current.clearSince;
        this.changed.set(current.id, current);
      }
    }
  }

  private openIncident(
    rule: CompiledRule,
    fingerprint: string,
    evaluation: SeriesEvaluation,
    now: number,
  ): Incident {
    const incident: Incident = {
      id: newId(now),
      ruleId: rule.id,
      fingerprint,
      metric: rule.metric,
      labels: evaluation.labels,
      severity: rule.severity,
      state: 'pending',
      pendingSince: now,
      lastDataAt: now,
      value: evaluation.value,
      worstValue: evaluation.value,
      samples: evaluation.samples,
      ackCode: this.freeAckCode(),
      escalationStep: 0,
      steps: {},
    };
    this.open.set(fingerprint, incident);
    return incident;
  }

  private resolve(incident: Incident, now: number, resolution: string): void {
    incident.state = 'resolved';
    incident.resolvedAt = now;
    incident.resolution = resolution;
    delete incident.clearSince;
    this.open.delete(incident.fingerprint);
    if (owesResolved(incident)) this.closing.set(incident.id, incident);
    this.changed.set(incident.id, incident);
  }

  /**
   * A pending incident that cleared before its `for` was never announced and leaves no trace
   * (unless it was already written, when it is written once more as resolved).
   */
  private drop(incident: Incident): void {
    this.open.delete(incident.fingerprint);
    if (incident.state === 'pending') {
      this.changed.delete(incident.id);
      return;
    }
    this.resolve(incident, this.now(), 'cleared');
  }

  private async send(incident: Incident, due: Due, rule: CompiledRule | undefined, now: number) {
    const notification = this.notification(incident, due.kind, rule);
    const record = (incident.steps[String(due.step)] ??= {});
    try {
      await this.options.notifier.notify(notification, due.channels);
      delete record.failures;
      delete record.retryAt;
      record.lastAt = now;
      if (due.kind === 'resolved') record.resolvedAt = now;
      else if (due.kind === 'firing' || due.kind === 'escalation') {
        record.notifiedAt = now;
        record.channels = [...due.channels];
        incident.announcedAt ??= now;
        incident.escalationStep = Math.max(incident.escalationStep, due.step);
      }
    } catch (err) {
      record.failures = (record.failures ?? 0) + 1;
      // A refusal for good (every channel unknown or misconfigured) is not worth repeating.
      if (isPermanent(err)) record.abandonedAt = now;
      else record.retryAt = now + backoffDelay(record.failures, NOTIFY_RETRY);
      this.options.onError?.(err, notification, due.channels);
    }
    this.changed.set(incident.id, incident);
  }

  private notification(
    incident: Incident,
    kind: NotificationKind,
    rule: CompiledRule | undefined,
  ): AlertNotification {
    const { title, summary } = describeIncident(incident, rule);
    const notification: AlertNotification = {
      incidentId: incident.id,
      ruleId: incident.ruleId,
      kind,
      severity: incident.severity,
      title: kind === 'resolved' ? `Resolved: ${title}` : title,
      summary,
      labels: { ...incident.labels, rule: incident.ruleId },
      startedAt: new Date(incident.firedAt ?? incident.pendingSince).toISOString(),
    };
    if (incident.resolvedAt !== undefined) {
      notification.resolvedAt = new Date(incident.resolvedAt).toISOString();
    }
    const url = rule?.rule.runbook ?? this.options.url;
    if (url !== undefined) notification.url = url;
    return notification;
  }

  private freeAckCode(): string {
    const taken = new Set([...this.open.values()].map((i) => i.ackCode));
    for (;;) {
      const code = String(1000 + Math.floor(this.random() * 9000));
      if (!taken.has(code)) return code;
    }
  }
}

function owesResolved(incident: Incident): boolean {
  return Object.values(incident.steps).some(
    (r) => r.notifiedAt !== undefined && r.resolvedAt === undefined && r.abandonedAt === undefined,
  );
}

function worse(rule: CompiledRule, value: number, than: number): boolean {
  const low = rule.condition.kind === 'below' || rule.condition.kind === 'belowBaseline';
  return low ? value < than : value > than;
}

const METRIC_WORDS: Record<MetricName, { what: string; unit: 'ratio' | 'seconds' | 'count' }> = {
  submit_success_rate: { what: 'Submit success rate', unit: 'ratio' },
  submit_latency_p50_seconds: { what: 'Median submit latency', unit: 'seconds' },
  submit_latency_p95_seconds: { what: 'p95 submit latency', unit: 'seconds' },
  delivered_rate: { what: 'Delivered rate', unit: 'ratio' },
  receipt_lag_p95_seconds: { what: 'p95 receipt lag', unit: 'seconds' },
  otp_conversion_rate: { what: 'OTP conversion', unit: 'ratio' },
  provider_health: { what: 'Health', unit: 'ratio' },
  breaker_state: { what: 'Breaker state', unit: 'count' },
  consumer_lag: { what: 'Consumer lag', unit: 'count' },
  heartbeat_age_seconds: { what: 'Time since the last heartbeat', unit: 'seconds' },
  service_instances: { what: 'Live instances', unit: 'count' },
  canary_success_rate: { what: 'Canary success rate', unit: 'ratio' },
  canary_latency_p95_seconds: { what: 'p95 canary latency', unit: 'seconds' },
  receipt_backlog: { what: 'Receipt backlog', unit: 'count' },
};

function format(value: number | undefined, unit: 'ratio' | 'seconds' | 'count'): string {
  if (value === undefined) return '?';
  if (unit === 'ratio') return `${Math.round(value * 100)} %`;
  if (unit === 'seconds') return `${value < 10 ? value.toFixed(1) : Math.round(value)} s`;
  return String(Math.round(value));
}

/** One-line title and a few lines of detail, e.g. "Delivered rate of twilio to GB is 41 % (baseline 96 %)". */
export function describeIncident(
  incident: Incident,
  rule: CompiledRule | undefined,
): { title: string; summary: string } {
  const words = METRIC_WORDS[incident.metric];
  const l = incident.labels;
  const scope = [
    l.provider !== undefined ? `of ${l.provider}` : '',
    l.country !== undefined ? `to ${l.country}` : '',
    l.class !== undefined ? `(${l.class})` : '',
    l.service !== undefined ? `of ${l.service}${l.instance !== undefined ? ` ${l.instance}` : ''}` : '',
    l.group !== undefined ? `of ${l.group}` : '',
    l.topic !== undefined ? `on ${l.topic}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const shown = incident.state === 'resolved' ? incident.value : incident.worstValue;
  const against =
    incident.baseline !== undefined
      ? ` (baseline ${format(incident.baseline, words.unit)})`
      : incident.threshold !== undefined
        ? ` (threshold ${format(incident.threshold, words.unit)})`
        : '';
  const title = `${words.what}${scope ? ` ${scope}` : ''} ${incident.state === 'resolved' ? 'is back at' : 'is'} ${format(shown, words.unit)}${against}`;
  const lines = [
    `Rule ${incident.ruleId} (${incident.severity})${rule?.rule.description ? `: ${rule.rule.description}` : ''}`,
    `Now ${format(incident.value, words.unit)} over ${incident.samples} samples${rule && rule.windowMs ? `, window ${rule.windowMs / 60_000} min` : ''}`,
  ];
  if (incident.state === 'resolved') {
    const at = incident.resolvedAt === undefined ? '' : ` at ${new Date(incident.resolvedAt).toISOString()}`;
    lines.push(`Resolved (${incident.resolution ?? 'recovered'})${at}`);
  } else if (incident.ackedAt !== undefined) {
    lines.push(`Acknowledged by ${incident.ackedBy ?? 'someone'}`);
  } else {
    lines.push(
      `Acknowledge: reply "ACK ${incident.ackCode}" or POST /v1/alerts/incidents/${incident.id}/ack`,
    );
  }
  return { title, summary: lines.join('\n') };
}
