/** 'suspended': every key of the tenant is refused (PIGEON_ERR_TENANT_SUSPENDED) until resumed. */
export const TENANT_STATUSES = ['active', 'suspended'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

/**
 * A tenant an operator created. Optional: a tenant with keys but no record (keys made before
 * tenants were, or by `pigeon create-api-key`) is active.
 */
export interface TenantRecord {
  /** The id every key, message and setting of the tenant carries. */
  id: string;
  name: string;
  status: TenantStatus;
  createdAt: number;
  updatedAt: number;
}

export interface TenantStore {
  /** Inserts the tenant; false (and nothing changed) when one with that id exists. */
  createTenant(tenant: TenantRecord): Promise<boolean>;
  getTenant(id: string): Promise<TenantRecord | undefined>;
  /** Tenants in id order, from just after `after`, at most `limit`. */
  listTenants(page: { after?: string; limit: number }): Promise<TenantRecord[]>;
  /** Sets the tenant's status; false when there is no such tenant. */
  setTenantStatus(id: string, status: TenantStatus, at: number): Promise<boolean>;
}
