import type { TenantMessagingPolicy } from './store/kinds/messaging-policy.ts';
import type { Store } from './store/store.ts';
import { TenantCache } from './tenant-cache.ts';

/** How long the same message to the same number is sent once, unless the tenant says otherwise. */
export const DEFAULT_DEDUP_WINDOW_SECONDS = 600;

/**
 * How long a process reuses a tenant's messaging policy before reading it again: a PUT through
 * another api replica reaches this process's sends, and every bridge's quiet hours, within this.
 */
export const TENANT_MESSAGING_POLICY_TTL_MS = 5_000;

/** The admin endpoint of a tenant's messaging policy, for documentation and errors. */
export const tenantMessagingPolicyPath = (tenantId: string) =>
  `PUT /v1/admin/tenants/${tenantId}/messaging-policy`;

/**
 * The per-tenant messaging policies (`tenant_messaging_policy`) kept in process: the api's send
 * policy reads the caps and the dedup window, the supplier bridge the quiet hours. One per store
 * (`for`), so the admin routes' writes are seen by this process at once.
 */
export class TenantMessagingPolicyCache extends TenantCache<TenantMessagingPolicy> {
  private static readonly byStore = new WeakMap<Store, TenantMessagingPolicyCache>();

  static for(store: Store): TenantMessagingPolicyCache {
    let cache = TenantMessagingPolicyCache.byStore.get(store);
    if (!cache) {
      cache = new TenantMessagingPolicyCache(store);
      TenantMessagingPolicyCache.byStore.set(store, cache);
    }
    return cache;
  }

  constructor(store: Store, now: () => number = Date.now, ttlMs: number = TENANT_MESSAGING_POLICY_TTL_MS) {
    super(
      (tenantId) => store.getTenantMessagingPolicy(tenantId),
      'tenant.messaging_policy_unreadable',
      now,
      ttlMs,
    );
  }
}

/** The dedup window of a tenant in ms; 0: off. */
export function dedupWindowMs(policy: TenantMessagingPolicy | undefined): number {
  return (policy?.dedupWindowSeconds ?? DEFAULT_DEDUP_WINDOW_SECONDS) * 1000;
}
