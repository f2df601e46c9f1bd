import type { TenantRecord, TenantStatus } from './kinds/tenants.ts';
import { num } from './rows.ts';

/** The order of the values tenantValues() returns. */
export const TENANT_COLUMNS: readonly string[] = ['id', 'name', 'status', 'created_at', 'updated_at'];

/** A `tenants` row as either driver returns it. */
export interface TenantRow {
  id: string;
  name: string;
  status: string;
  created_at: number | string;
  updated_at: number | string;
}

/** A tenant's values in TENANT_COLUMNS order. */
export function tenantValues(tenant: TenantRecord): unknown[] {
  return [tenant.id, tenant.name, tenant.status, tenant.createdAt, tenant.updatedAt];
}

export function toTenantRecord(row: TenantRow): TenantRecord {
  return {
    id: row.id,
    name: row.name,
    // Only this code writes the column, from TENANT_STATUSES.
    status: row.status as TenantStatus,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
}
