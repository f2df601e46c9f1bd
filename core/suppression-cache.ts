import type { Cache } from './cache/cache.ts';
import type { MessageClass } from './message.ts';
import { blocks, SUPPRESSION_RULES } from './opt-out.ts';
import type { SuppressionRecord } from './store/kinds/suppressions.ts';
import type { Store } from './store/store.ts';

/**
 * The send-time view of the suppression lists: one cache key per (tenant, number) holding the
 * senders (or `*`) it is suppressed for, as a JSON array; absent when it is suppressed for none.
 * The store is the source of truth. Every change goes through `SuppressionList`, which writes the
 * store and then copies the number's whole scope list from the store into the cache, so the key
 * always converges to what the store holds, and the bridge's check is one GET.
 */
export const suppressionKey = (tenantId: string, phone: string): string => `optout:${tenantId}:${phone}`;

/** The scopes a cached value lists; none for a missing or unreadable value. */
export function parseScopes(value: string | undefined): string[] {
  if (value === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.filter((s): s is string => typeof s === 'string') : [];
  } catch {
    return [];
  }
}

/** Whether a message of this class could be blocked by any suppression: only then is the cache asked. */
export const suppressible = (messageClass: MessageClass): boolean => {
  const rule = SUPPRESSION_RULES[messageClass];
  return rule.sender || rule.all;
};

/** The message fields the check needs. */
export interface SuppressionTarget {
  tenantId: string;
  to: string;
  from?: string | undefined;
  class: MessageClass;
}

/**
 * Whether the message must be skipped because its recipient opted out: one cache GET, and none at
 * all for classes no opt-out blocks (OTP, alerts). The key and the decision are exported apart
 * (`suppressionKey`, `parseScopes`, `blocks`) for a caller that batches its reads in one pipeline.
 */
export async function isSuppressed(cache: Pick<Cache, 'get'>, message: SuppressionTarget): Promise<boolean> {
  if (!suppressible(message.class)) return false;
  const scopes = parseScopes(await cache.get(suppressionKey(message.tenantId, message.to)));
  return blocks(scopes, message);
}

/** Adds and removes suppressions, keeping the store (first) and the cache (after) in step. */
export class SuppressionList {
  constructor(
    private readonly store: Pick<Store, 'putSuppressions' | 'deleteSuppressions' | 'suppressionScopes'>,
    private readonly cache: Pick<Cache, 'set' | 'del'>,
  ) {}

  async add(records: readonly SuppressionRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.store.putSuppressions(records);
    await this.refresh(records);
  }

  /** Removes the number's entry for `sender`, or all its entries; resolves how many went. */
  async remove(tenantId: string, phone: string, sender?: string): Promise<number> {
    const removed = await this.store.deleteSuppressions(tenantId, phone, sender);
    await this.refresh([{ tenantId, phone }]);
    return removed;
  }

  /** Copies each number's scopes from the store to the cache (used also to rebuild a lost cache). */
  async refresh(numbers: ReadonlyArray<{ tenantId: string; phone: string }>): Promise<void> {
    const seen = new Set<string>();
    for (const { tenantId, phone } of numbers) {
      const key = suppressionKey(tenantId, phone);
      if (seen.has(key)) continue;
      seen.add(key);
      const scopes = await this.store.suppressionScopes(tenantId, phone);
      if (scopes.length === 0) await this.cache.del(key);
      else await this.cache.set(key, JSON.stringify(scopes));
    }
  }
}
