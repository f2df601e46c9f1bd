import type { TenantSendLimits } from '../../../core/store/kinds/send-limits.ts';
import type { Store } from '../../../core/store/store.ts';
import { TenantCache } from '../../../core/tenant-cache.ts';

/**
 * How long an api process reuses a tenant's send limits before reading them again: a PUT through
 * another replica takes up to this long to apply here; one through this process applies at once.
 */
export const TENANT_SEND_LIMITS_TTL_MS = 5_000;

/** The admin endpoint that changes a tenant's send limits, for documentation and errors. */
export const tenantSendLimitsPath = (tenantId: string) => `PUT /v1/admin/tenants/${tenantId}/limits`;

/**
 * The per-tenant send limits (`tenant_send_limits`) kept in process. One cache per store (`for`),
 * shared by the policy engine and the admin routes, so a PUT is seen by this process at once.
 */
export class TenantSendLimitsCache extends TenantCache<TenantSendLimits> {
  private static readonly byStore = new WeakMap<Store, TenantSendLimitsCache>();

  static for(store: Store): TenantSendLimitsCache {
    let cache = TenantSendLimitsCache.byStore.get(store);
    if (!cache) {
      cache = new TenantSendLimitsCache(store);
      TenantSendLimitsCache.byStore.set(store, cache);
    }
    return cache;
  }

  constructor(store: Store, now: () => number = Date.now, ttlMs: number = TENANT_SEND_LIMITS_TTL_MS) {
    super((tenantId) => store.getTenantSendLimits(tenantId), 'send.tenant_limits_unreadable', now, ttlMs);
  }
}
