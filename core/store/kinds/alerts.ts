// Alerting: rules, silences, incidents (alerting/rules.ts, incidents.ts).

/** An alert rule as the admin API wrote it (alerting/rules.ts `AlertRule`), kept as JSON. */
export interface AlertRuleRecord {
  id: string;
  definition: Record<string, unknown>;
  updatedAt: number;
}

/** A silence: incidents whose labels (and `rule`, `severity`) match every matcher notify no one. */
export interface SilenceRecord {
  id: string;
  /** Label → value; '*' matches any value. */
  matchers: Record<string, string>;
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  createdAt: number;
}

/**
 * An incident of an alert rule (alerting/incidents.ts `Incident`): the columns the API lists
 * and acknowledges by, and the monitor's whole view of it as JSON in `detail`.
 */
export interface IncidentRecord {
  id: string;
  ruleId: string;
  /** Rule and series labels; at most one open incident has it. */
  fingerprint: string;
  state: 'pending' | 'firing' | 'resolved';
  severity: string;
  labels: Record<string, string>;
  startedAt: number;
  firedAt: number | null;
  resolvedAt: number | null;
  /** Short code on-call people reply with ("ACK 4821"); unique among open incidents. */
  ackCode: string;
  ackedAt: number | null;
  ackedBy: string | null;
  detail: Record<string, unknown>;
  updatedAt: number;
}

export interface AlertStore {
  /** Alert rules written through the admin API, by id. */
  listAlertRules(): Promise<AlertRuleRecord[]>;
  /** Inserts or replaces the rule (its whole definition, `id` included). */
  putAlertRule(rule: { id: string } & Record<string, unknown>): Promise<void>;
  /** False when there was no such rule. */
  deleteAlertRule(id: string): Promise<boolean>;
  /** Silences ending after `activeAfter` (every one when absent), newest first. */
  listSilences(activeAfter?: number): Promise<SilenceRecord[]>;
  getSilence(id: string): Promise<SilenceRecord | undefined>;
  /** Inserts or replaces the silence (ending one early is a put with an earlier `endsAt`). */
  putSilence(silence: SilenceRecord): Promise<void>;
  /**
   * Inserts or updates incidents as the monitor sees them. An acknowledgement stored meanwhile
   * (by the API) is kept, and a resolved incident stays resolved, whatever the write says.
   */
  putIncidents(incidents: readonly IncidentRecord[]): Promise<void>;
  /** Incidents, newest first: open ones (pending, firing), resolved ones, or both. */
  listIncidents(filter: { open?: boolean; before?: string; limit: number }): Promise<IncidentRecord[]>;
  getIncident(id: string): Promise<IncidentRecord | undefined>;
  /**
   * Acknowledges an open incident named by id or SMS code, unless already acknowledged; returns
   * the incident the id or code names (by code: only an open one), acknowledged or not.
   */
  acknowledgeIncident(idOrCode: string, by: string, at: number): Promise<IncidentRecord | undefined>;
}
