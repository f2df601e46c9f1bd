import type { Weekday } from '../../oncall.ts';

/** A local time window `HH:MM`–`HH:MM`; an end at or before the start runs past midnight. */
export interface LocalWindow {
  start: string;
  end: string;
}

/**
 * When marketing messages are held, in the recipient's local time: every day's window, unless
 * `byWeekday` names the weekday the window starts on (its own window, or null for none that day).
 */
export interface QuietHours extends LocalWindow {
  byWeekday?: Partial<Record<Weekday, LocalWindow | null>>;
}

/**
 * A tenant's messaging policy (quiet hours, marketing frequency caps, dedup, smart encoding);
 * null: off, or the gateway default for `dedupWindowSeconds`.
 */
export interface TenantMessagingPolicy {
  quietHours: QuietHours | null;
  /** Marketing messages to one number per local calendar day; null or 0: no cap. */
  marketingPerDay: number | null;
  /** Marketing messages to one number per local ISO week (Monday to Sunday); null or 0: no cap. */
  marketingPerWeek: number | null;
  /** How long the same message to the same number is sent once; null: the default, 0: off. */
  dedupWindowSeconds: number | null;
  /** Look-alike characters may be replaced by GSM-7 equivalents. */
  smartEncoding: boolean;
  updatedAt: number;
}

/** Per-tenant messaging policies (api/src/send-policy/, supplier-bridge quiet hours). */
export interface MessagingPolicyStore {
  /** The tenant's messaging policy; undefined when it has none stored. */
  getTenantMessagingPolicy(tenantId: string): Promise<TenantMessagingPolicy | undefined>;
  /** Inserts or replaces the tenant's messaging policy. */
  putTenantMessagingPolicy(tenantId: string, policy: TenantMessagingPolicy): Promise<void>;
}
