import type { PageRecord, PageStatus, RosterRecord } from '../../oncall.ts';
import type { OnCallStore } from '../kinds/oncall.ts';
import {
  PAGE_COLUMNS,
  type PageRow,
  pageValues,
  ROSTER_COLUMNS,
  type RosterRow,
  rosterValues,
  toPageRecord,
  toRosterRecord,
  updatePageValues,
} from '../oncall-rows.ts';
import { insertInto } from '../rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

const INSERT_PAGE = insertInto('oncall_pages', PAGE_COLUMNS);

/** Compare-and-set on (status, level): the parameters are updatePageValues(). */
const UPDATE_PAGE = `UPDATE oncall_pages SET status = ?, level = ?, deliveries = ?, escalate_at = ?,
  acknowledged_at = ?, acknowledged_by = ?, resolved_at = ?, updated_at = ?
WHERE id = ? AND tenant_id = ? AND status = ? AND level = ?`;

const DUE_PAGES = `SELECT * FROM oncall_pages
WHERE status = 'open' AND escalate_at IS NOT NULL AND escalate_at <= ?
ORDER BY escalate_at LIMIT ?`;

function findPagesSql(statuses: number): string {
  return `SELECT * FROM oncall_pages WHERE tenant_id = ? AND fingerprint = ? AND status IN (${Array.from(
    { length: statuses },
    () => '?',
  ).join(', ')}) ORDER BY created_at, id`;
}

/** `oncall_rosters` and `oncall_pages`. */
export class SqlOnCallStore implements OnCallStore {
  private readonly upsertRoster: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.upsertRoster = `${insertInto('oncall_rosters', ROSTER_COLUMNS)}
${dialect.upsert(['tenant_id', 'name'], `definition = ${v('definition')}, updated_at = ${v('updated_at')}`)}`;
  }

  async listRosters(tenantId: string): Promise<RosterRecord[]> {
    const rows = await this.sql.query<RosterRow>(
      'SELECT * FROM oncall_rosters WHERE tenant_id = ? ORDER BY name',
      [tenantId],
    );
    return rows.map(toRosterRecord);
  }

  async getRoster(tenantId: string, name: string): Promise<RosterRecord | undefined> {
    const rows = await this.sql.query<RosterRow>(
      'SELECT * FROM oncall_rosters WHERE tenant_id = ? AND name = ?',
      [tenantId, name],
    );
    return rows[0] && toRosterRecord(rows[0]);
  }

  async putRoster(record: RosterRecord): Promise<void> {
    await this.sql.execute(this.upsertRoster, rosterValues(record));
  }

  async deleteRoster(tenantId: string, name: string): Promise<boolean> {
    return (
      (await this.sql.execute('DELETE FROM oncall_rosters WHERE tenant_id = ? AND name = ?', [
        tenantId,
        name,
      ])) > 0
    );
  }

  async insertPage(page: PageRecord): Promise<void> {
    await this.sql.execute(INSERT_PAGE, pageValues(page));
  }

  async getPage(tenantId: string, id: string): Promise<PageRecord | undefined> {
    const rows = await this.sql.query<PageRow>('SELECT * FROM oncall_pages WHERE id = ? AND tenant_id = ?', [
      id,
      tenantId,
    ]);
    return rows[0] && toPageRecord(rows[0]);
  }

  async findPages(
    tenantId: string,
    fingerprint: string,
    statuses: readonly PageStatus[],
  ): Promise<PageRecord[]> {
    if (statuses.length === 0) return [];
    const rows = await this.sql.query<PageRow>(findPagesSql(statuses.length), [
      tenantId,
      fingerprint,
      ...statuses,
    ]);
    return rows.map(toPageRecord);
  }

  async updatePage(page: PageRecord, expected: { status: PageStatus; level: number }): Promise<boolean> {
    // mysql2 reports found rows, so a write that changes nothing still counts as having matched.
    return (await this.sql.execute(UPDATE_PAGE, updatePageValues(page, expected))) > 0;
  }

  async duePages(now: number, limit: number): Promise<PageRecord[]> {
    const rows = await this.sql.query<PageRow>(DUE_PAGES, [now, limit]);
    return rows.map(toPageRecord);
  }
}
