import type { MessageClass } from '../../message.ts';

/** Caps on messages to one number, per tenant; null: the next level's value. */
export interface RecipientCaps {
  perRecipientHour: number | null;
  perRecipientDay: number | null;
}

/**
 * A tenant's overrides of the gateway-wide send policy (PIGEON_SEND_*); null: the gateway's value.
 * The rate and the spend caps are the tenant's as a whole; the per-recipient caps may be set again
 * per message class (`classes`), which wins over the tenant's own.
 */
export interface TenantSendLimits extends RecipientCaps {
  ratePerSecond: number | null;
  burst: number | null;
  dailySpendCap: number | null;
  monthlySpendCap: number | null;
  classes: Partial<Record<MessageClass, RecipientCaps>>;
  updatedAt: number;
}

/** Per-tenant send limits (api/src/send-policy/). */
export interface SendLimitsStore {
  /** The tenant's send limits; undefined when it has none stored. */
  getTenantSendLimits(tenantId: string): Promise<TenantSendLimits | undefined>;
  /** Inserts or replaces the tenant's send limits. */
  putTenantSendLimits(tenantId: string, limits: TenantSendLimits): Promise<void>;
}
