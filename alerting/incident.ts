/**
 * The incident lifecycle: pending → firing → resolved, with acknowledgement, silences, reminders
 * and an escalation chain. An incident is one series of one rule (the rule's `by` labels) from
 * the first breach to its resolution; a breach after that is a new incident.
 *
 * The lifecycle is the table INCIDENT_TRANSITIONS, driven by signals derived from each evaluation
 * (`signalFor`); what to tell whom is `dueNotifications`, also pure. IncidentEngine applies both
 * and reports which incidents changed, for the store.
 *
 * Whom to tell is a list of steps: step 0 is the rule's channels, the later ones the escalation
 * policy's. Each step's channels are a fallback chain (the Notifier tries them in order until one
 * takes the notification), so every step hears of an incident once per kind, and a step whose
 * chain is down is retried later without repeating the others.
 */
import type { AlertSeverity, NotificationKind } from './notification.ts';
import type { CompiledRule, MetricName } from './rules.ts';
import type { SilenceRecord } from '../core/store/kinds/alerts.ts';

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
export const INCIDENT_TRANSITIONS: Readonly<Record<Phase, Readonly<Record<Signal, Phase | null>>>> = {
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
  silences: readonly SilenceRecord[],
  now: number,
): SilenceRecord | undefined {
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
