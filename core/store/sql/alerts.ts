import {
  ALERT_RULE_COLUMNS,
  type AlertRuleRow,
  alertRuleValues,
  INCIDENT_COLUMNS,
  type IncidentRow,
  incidentValues,
  SILENCE_COLUMNS,
  type SilenceRow,
  silenceValues,
  toAlertRuleRecord,
  toIncidentRecord,
  toSilenceRecord,
} from '../alert-rows.ts';
import type { AlertRuleRecord, AlertStore, IncidentRecord, SilenceRecord } from '../kinds/alerts.ts';
import { insertInto } from '../rows.ts';
import { insertGroups, oneRowOnce, type SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** Incidents, newest first; `open`: pending and firing only. */
function listIncidentsSql(filter: { open?: boolean; before?: string }): string {
  const where = [
    ...(filter.open === true ? ["state <> 'resolved'"] : []),
    ...(filter.open === false ? ["state = 'resolved'"] : []),
    ...(filter.before !== undefined ? ['id < ?'] : []),
  ];
  return `SELECT * FROM alert_incidents${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
}

/**
 * Acknowledges an open incident by id or SMS code, once: the first acknowledgement stands. Both
 * dialects read the old row in SET expressions (MySQL because `acked_by` is assigned first).
 */
const ACK_INCIDENT = `UPDATE alert_incidents SET acked_by = ?, acked_at = ?, updated_at = ?
WHERE (id = ? OR ack_code = ?) AND state <> 'resolved' AND acked_at IS NULL`;

/** The incident an id or code names: by id whatever its state, by code only while open. */
const FIND_INCIDENT = `SELECT * FROM alert_incidents
WHERE id = ? OR (ack_code = ? AND state <> 'resolved') ORDER BY id DESC LIMIT 1`;

/** `alert_rules`, `alert_silences` and `alert_incidents`. */
export class SqlAlertStore implements AlertStore {
  private readonly upsertRule: string;
  private readonly upsertSilence: string;
  private readonly upsertIncidents: (rows: number) => string;

  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.upsertRule = `${insertInto('alert_rules', ALERT_RULE_COLUMNS)}
${dialect.upsert(['id'], `definition = ${v('definition')}, updated_at = ${v('updated_at')}`)}`;
    this.upsertSilence = `${insertInto('alert_silences', SILENCE_COLUMNS)}
${dialect.upsert(
  ['id'],
  `matchers = ${v('matchers')}, starts_at = ${v('starts_at')},
  ends_at = ${v('ends_at')}, comment = ${v('comment')}`,
)}`;
    // An acknowledgement and a resolution, once stored, stay. MySQL's assignments run left to right
    // and see the columns already assigned: acked_by is decided while acked_at still holds the
    // stored value, and the state columns before `state` changes. (SQLite's all read the stored row.)
    const assignments = `  acked_by = CASE WHEN acked_at IS NULL THEN ${v('acked_by')} ELSE acked_by END,
  acked_at = COALESCE(acked_at, ${v('acked_at')}),
  resolved_at = COALESCE(resolved_at, ${v('resolved_at')}),
  fired_at = COALESCE(fired_at, ${v('fired_at')}),
  state = CASE WHEN state = 'resolved' THEN state ELSE ${v('state')} END,
  severity = ${v('severity')},
  labels = ${v('labels')},
  detail = ${v('detail')},
  updated_at = ${dialect.greatest}(updated_at, ${v('updated_at')})`;
    this.upsertIncidents = oneRowOnce(
      (rows) =>
        `${insertInto('alert_incidents', INCIDENT_COLUMNS, rows)}\n${dialect.upsert(['id'], assignments)}`,
    );
  }

  async listAlertRules(): Promise<AlertRuleRecord[]> {
    const rows = await this.sql.query<AlertRuleRow>('SELECT * FROM alert_rules ORDER BY id', []);
    return rows.map(toAlertRuleRecord);
  }

  async putAlertRule(rule: { id: string } & Record<string, unknown>): Promise<void> {
    await this.sql.execute(this.upsertRule, alertRuleValues(rule, Date.now()));
  }

  async deleteAlertRule(id: string): Promise<boolean> {
    return (await this.sql.execute('DELETE FROM alert_rules WHERE id = ?', [id])) > 0;
  }

  async listSilences(activeAfter?: number): Promise<SilenceRecord[]> {
    const rows = await this.sql.query<SilenceRow>(
      activeAfter === undefined
        ? 'SELECT * FROM alert_silences ORDER BY id DESC'
        : 'SELECT * FROM alert_silences WHERE ends_at > ? ORDER BY id DESC',
      activeAfter === undefined ? [] : [activeAfter],
    );
    return rows.map(toSilenceRecord);
  }

  async getSilence(id: string): Promise<SilenceRecord | undefined> {
    const rows = await this.sql.query<SilenceRow>('SELECT * FROM alert_silences WHERE id = ?', [id]);
    return rows[0] && toSilenceRecord(rows[0]);
  }

  async putSilence(silence: SilenceRecord): Promise<void> {
    await this.sql.execute(this.upsertSilence, silenceValues(silence));
  }

  async putIncidents(incidents: readonly IncidentRecord[]): Promise<void> {
    if (incidents.length === 0) return;
    await this.sql.transaction(
      insertGroups(this.dialect, incidents).map((group) => ({
        sql: this.upsertIncidents(group.length),
        params: group.flatMap(incidentValues),
      })),
    );
  }

  async listIncidents(filter: { open?: boolean; before?: string; limit: number }): Promise<IncidentRecord[]> {
    const params: unknown[] = [...(filter.before !== undefined ? [filter.before] : []), filter.limit];
    const rows = await this.sql.query<IncidentRow>(listIncidentsSql(filter), params);
    return rows.map(toIncidentRecord);
  }

  async getIncident(id: string): Promise<IncidentRecord | undefined> {
    const rows = await this.sql.query<IncidentRow>('SELECT * FROM alert_incidents WHERE id = ?', [id]);
    return rows[0] && toIncidentRecord(rows[0]);
  }

  async acknowledgeIncident(idOrCode: string, by: string, at: number): Promise<IncidentRecord | undefined> {
    await this.sql.execute(ACK_INCIDENT, [by, at, at, idOrCode, idOrCode]);
    const rows = await this.sql.query<IncidentRow>(FIND_INCIDENT, [idOrCode, idOrCode]);
    return rows[0] && toIncidentRecord(rows[0]);
  }
}
