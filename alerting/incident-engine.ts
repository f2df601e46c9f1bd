/**
 * Applies the incident lifecycle (alerting/incident.ts) to each evaluation: opens, fires, resolves
 * and acknowledges incidents, and hands due notifications to the Notifier, retrying a step whose
 * chain refused one. Reports which incidents changed, for the store.
 */
import { PigeonError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { SilenceRecord } from '../core/store/kinds/alerts.ts';
import { backoffDelay, isPermanent, type ScheduleBackoff } from '../core/retry.ts';
import {
  type Due,
  dueNotifications,
  type EscalationPolicy,
  type EscalationStep,
  type Incident,
  type Phase,
  signalFor,
  silenceFor,
  INCIDENT_TRANSITIONS,
} from './incident.ts';
import { describeIncident } from './incident-text.ts';
import type { AlertNotification, NotificationKind } from './notification.ts';
import type { Notifier } from './notifier.ts';
import type { CompiledRule, SeriesEvaluation } from './rules.ts';

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
  private silences: readonly SilenceRecord[] = [];
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

  setSilences(silences: readonly SilenceRecord[]): void {
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
    if (INCIDENT_TRANSITIONS[incident.state].ack === null) {
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
    const next = INCIDENT_TRANSITIONS[phase][signal];
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
