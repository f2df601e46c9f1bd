import type { TenantOtpSettings } from '../../../core/store/kinds/otp-settings.ts';
import type { Store } from '../../../core/store/store.ts';
import { TenantCache } from '../../../core/tenant-cache.ts';

/**
 * How long an api process reuses a tenant's OTP settings before reading them again. The cost of
 * keeping the hot path free of a database read: a PUT to another replica (or straight to the
 * database) takes up to this long to reach this one. A PUT through this process drops its copy
 * at once (`forget`), so the replica that answered the PUT enforces the new settings immediately.
 */
export const TENANT_OTP_SETTINGS_TTL_MS = 5_000;
/** The admin endpoint that changes a tenant's OTP settings, for error messages. */
export const tenantOtpSettingsPath = (tenantId: string) => `PUT /v1/admin/tenants/${tenantId}/otp-settings`;

/**
 * The per-tenant OTP overrides (`tenant_otp_settings`) as read from the store, kept in process for
 * TENANT_OTP_SETTINGS_TTL_MS (see TenantCache for what a database outage does: a tenant restricted
 * to a short allowlist stays restricted).
 *
 * One cache per store (`for`), shared by the verification limits and the admin routes, so a PUT
 * through this process is seen by its limits at once.
 */
export class TenantOtpSettingsCache extends TenantCache<TenantOtpSettings> {
  private static readonly byStore = new WeakMap<Store, TenantOtpSettingsCache>();

  static for(store: Store): TenantOtpSettingsCache {
    let cache = TenantOtpSettingsCache.byStore.get(store);
    if (!cache) {
      cache = new TenantOtpSettingsCache(store);
      TenantOtpSettingsCache.byStore.set(store, cache);
    }
    return cache;
  }

  constructor(store: Store, now: () => number = Date.now, ttlMs: number = TENANT_OTP_SETTINGS_TTL_MS) {
    super((tenantId) => store.getTenantOtpSettings(tenantId), 'otp.tenant_settings_unreadable', now, ttlMs);
  }
}
