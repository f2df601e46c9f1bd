import type { Logger } from '../../../core/logger.ts';
import type { TenantOtpSettings } from '../../../core/store/kinds/otp-settings.ts';
import type { Store } from '../../../core/store/store.ts';

/**
 * How long an api process reuses a tenant's OTP settings before reading them again. The cost of
 * keeping the hot path free of a database read: a PUT to another replica (or straight to the
 * database) takes up to this long to reach this one. A PUT through this process drops its copy
 * at once (`forget`), so the replica that answered the PUT enforces the new settings immediately.
 */
export const TENANT_OTP_SETTINGS_TTL_MS = 5_000;
/** Past this many cached tenants the cache starts over, so tenant churn cannot grow it unbounded. */
const MAX_ENTRIES = 10_000;

/** The admin endpoint that changes a tenant's OTP settings, for error messages. */
export const tenantOtpSettingsPath = (tenantId: string) => `PUT /v1/admin/tenants/${tenantId}/otp-settings`;

interface Entry {
  expiresAt: number;
  value: Promise<TenantOtpSettings | undefined>;
  /** The last value read successfully, kept for a database outage. */
  settled?: TenantOtpSettings | undefined;
}

/**
 * The per-tenant OTP overrides (`tenant_otp_settings`) as read from the store, kept in process for
 * TENANT_OTP_SETTINGS_TTL_MS. Concurrent requests of one tenant share one read. When the store
 * cannot be read, the last value read keeps serving (a tenant restricted to a short allowlist stays
 * restricted); a tenant never read since start gets the gateway defaults — the baseline the
 * operator chose for every tenant — rather than having its codes stop with the database. Either
 * way the answer is kept for the TTL so an outage does not add a failing read to every request.
 *
 * One cache per store (`for`), shared by the verification limits and the admin routes, so a PUT
 * through this process is seen by its limits at once.
 */
export class TenantOtpSettingsCache {
  private static readonly byStore = new WeakMap<Store, TenantOtpSettingsCache>();

  static for(store: Store): TenantOtpSettingsCache {
    let cache = TenantOtpSettingsCache.byStore.get(store);
    if (!cache) {
      cache = new TenantOtpSettingsCache(store);
      TenantOtpSettingsCache.byStore.set(store, cache);
    }
    return cache;
  }

  private readonly entries = new Map<string, Entry>();
  logger: Logger | undefined;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    private readonly ttlMs: number = TENANT_OTP_SETTINGS_TTL_MS,
  ) {}

  /** The tenant's overrides, undefined when it has none (or none could be read). */
  get(tenantId: string): Promise<TenantOtpSettings | undefined> {
    const now = this.now();
    const cached = this.entries.get(tenantId);
    if (cached && cached.expiresAt > now) return cached.value;
    if (!cached && this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const entry: Entry = { expiresAt: now + this.ttlMs, value: Promise.resolve(undefined) };
    if (cached && 'settled' in cached) entry.settled = cached.settled;
    entry.value = this.store.getTenantOtpSettings(tenantId).then(
      (settings) => {
        entry.settled = settings;
        return settings;
      },
      (err: unknown) => {
        this.logger?.warn(
          { tenantId, err: (err as Error).message, fallback: 'settled' in entry ? 'last_read' : 'defaults' },
          'otp.tenant_settings_unreadable',
        );
        return entry.settled;
      },
    );
    this.entries.set(tenantId, entry);
    return entry.value;
  }

  /** Drops the tenant's copy: the next request reads the store. */
  forget(tenantId: string): void {
    this.entries.delete(tenantId);
  }
}
