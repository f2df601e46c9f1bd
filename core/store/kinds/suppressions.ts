import type { OptOutSettings } from '../../opt-out.ts';

/** How a number came onto a tenant's suppression list. */
export const SUPPRESSION_REASONS = ['keyword', 'api', 'import', 'provider'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** One number a tenant may not send marketing to, from one sender or from all (`*`, core/opt-out.ts). */
export interface SuppressionRecord {
  tenantId: string;
  /** E.164. */
  phone: string;
  /** The sender the opt-out applies to, or ALL_SENDERS. */
  sender: string;
  reason: SuppressionReason;
  createdAt: number;
}

/** Where a listing continues: after this (phone, sender), in that order. */
export interface SuppressionPosition {
  phone: string;
  sender: string;
}

/**
 * Each tenant's suppression list (`suppressions`) and opt-out settings (`tenant_opt_out`). The
 * store is the source of truth; the send-time check reads the cache the API keeps in step
 * (core/suppression-cache.ts).
 */
export interface SuppressionStore {
  /** Adds these entries; an entry already there keeps its reason and time. */
  putSuppressions(records: readonly SuppressionRecord[]): Promise<void>;
  /** Removes the number's entry for `sender`, or every entry when `sender` is undefined; resolves how many went. */
  deleteSuppressions(tenantId: string, phone: string, sender?: string): Promise<number>;
  /** The senders (or `*`) the number is suppressed for, sorted. */
  suppressionScopes(tenantId: string, phone: string): Promise<string[]>;
  /** Up to `limit` entries ordered by phone then sender, after `after` when given. */
  listSuppressions(
    tenantId: string,
    options: { limit: number; after?: SuppressionPosition },
  ): Promise<SuppressionRecord[]>;
  /** The tenant's own keyword lists and replies; undefined when it keeps the defaults. */
  getOptOutSettings(tenantId: string): Promise<OptOutSettings | undefined>;
  putOptOutSettings(tenantId: string, settings: OptOutSettings, updatedAt: number): Promise<void>;
}
