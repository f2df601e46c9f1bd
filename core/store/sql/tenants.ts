import type { TenantRecord, TenantStatus, TenantStore } from '../kinds/tenants.ts';
import { insertInto } from '../rows.ts';
import { TENANT_COLUMNS, type TenantRow, tenantValues, toTenantRecord } from '../tenant-rows.ts';
import type { SqlRunner } from './runner.ts';

const INSERT_TENANT = insertInto('tenants', TENANT_COLUMNS);

/** `tenants`: the tenants an operator created, by id. */
export class SqlTenantStore implements TenantStore {
  constructor(private readonly sql: SqlRunner) {}

  createTenant(tenant: TenantRecord): Promise<boolean> {
    // A plain INSERT: a taken id is a conflict to report, not a row to overwrite.
    return this.sql.insert(INSERT_TENANT, tenantValues(tenant));
  }

  async getTenant(id: string): Promise<TenantRecord | undefined> {
    const rows = await this.sql.query<TenantRow>('SELECT * FROM tenants WHERE id = ?', [id]);
    return rows[0] && toTenantRecord(rows[0]);
  }

  async listTenants(page: { after?: string; limit: number }): Promise<TenantRecord[]> {
    const rows = await this.sql.query<TenantRow>('SELECT * FROM tenants WHERE id > ? ORDER BY id LIMIT ?', [
      page.after ?? '',
      page.limit,
    ]);
    return rows.map(toTenantRecord);
  }

  async setTenantStatus(id: string, status: TenantStatus, at: number): Promise<boolean> {
    const affected = await this.sql.execute('UPDATE tenants SET status = ?, updated_at = ? WHERE id = ?', [
      status,
      at,
      id,
    ]);
    return affected > 0;
  }
}
