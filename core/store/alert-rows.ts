import type { AlertRuleRecord, IncidentRecord, SilenceRecord } from './kinds/alerts.ts';

// The alerting tables (`alert_rules`, `alert_silences`, `alert_incidents`) as both SQL stores see
// them, kept apart from rows.ts, which holds the message tables.

type Millis = number | string | bigint;
const ms = (value: Millis): number => Number(value);
const msOrNull = (value: Millis | null): number | null => (value === null ? null : Number(value));

export const ALERT_RULE_COLUMNS: readonly string[] = ['id', 'definition', 'updated_at'];

export interface AlertRuleRow {
  id: string;
  definition: string;
  updated_at: Millis;
}

export function alertRuleValues(rule: { id: string }, now: number): unknown[] {
  return [rule.id, JSON.stringify(rule), now];
}

export function toAlertRuleRecord(row: AlertRuleRow): AlertRuleRecord {
  return {
    id: row.id,
    definition: JSON.parse(row.definition) as Record<string, unknown>,
    updatedAt: ms(row.updated_at),
  };
}

export const SILENCE_COLUMNS: readonly string[] = [
  'id',
  'matchers',
  'starts_at',
  'ends_at',
  'created_by',
  'comment',
  'created_at',
];

export interface SilenceRow {
  id: string;
  matchers: string;
  starts_at: Millis;
  ends_at: Millis;
  created_by: string;
  comment: string;
  created_at: Millis;
}

export function silenceValues(s: SilenceRecord): unknown[] {
  return [s.id, JSON.stringify(s.matchers), s.startsAt, s.endsAt, s.createdBy, s.comment, s.createdAt];
}

export function toSilenceRecord(row: SilenceRow): SilenceRecord {
  return {
    id: row.id,
    matchers: JSON.parse(row.matchers) as Record<string, string>,
    startsAt: ms(row.starts_at),
    endsAt: ms(row.ends_at),
    createdBy: row.created_by,
    comment: row.comment,
    createdAt: ms(row.created_at),
  };
}

export const INCIDENT_COLUMNS: readonly string[] = [
  'id',
  'rule_id',
  'fingerprint',
  'state',
  'severity',
  'labels',
  'started_at',
  'fired_at',
  'resolved_at',
  'ack_code',
  'acked_at',
  'acked_by',
  'detail',
  'updated_at',
];

export interface IncidentRow {
  id: string;
  rule_id: string;
  fingerprint: string;
  state: string;
  severity: string;
  labels: string;
  started_at: Millis;
  fired_at: Millis | null;
  resolved_at: Millis | null;
  ack_code: string;
  acked_at: Millis | null;
  acked_by: string | null;
  detail: string;
  updated_at: Millis;
}

export function incidentValues(i: IncidentRecord): unknown[] {
  return [
    i.id,
    i.ruleId,
    i.fingerprint,
    i.state,
    i.severity,
    JSON.stringify(i.labels),
    i.startedAt,
    i.firedAt,
    i.resolvedAt,
    i.ackCode,
    i.ackedAt,
    i.ackedBy,
    JSON.stringify(i.detail),
    i.updatedAt,
  ];
}

export function toIncidentRecord(row: IncidentRow): IncidentRecord {
  return {
    id: row.id,
    ruleId: row.rule_id,
    fingerprint: row.fingerprint,
    state: row.state as IncidentRecord['state'],
    severity: row.severity,
    labels: JSON.parse(row.labels) as Record<string, string>,
    startedAt: ms(row.started_at),
    firedAt: msOrNull(row.fired_at),
    resolvedAt: msOrNull(row.resolved_at),
    ackCode: row.ack_code,
    ackedAt: msOrNull(row.acked_at),
    ackedBy: row.acked_by,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    updatedAt: ms(row.updated_at),
  };
}
