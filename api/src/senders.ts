import type { SenderRecord, SenderStore } from '../../core/store/kinds/senders.ts';

/** How long a tenant's registry is read from memory: a change made through another API process is in force within this. */
export const SENDER_CACHE_MS = 5_000;
// Past this many tenants the memory is simply dropped: each entry is refilled by one query.
const MAX_TENANTS = 10_000;

/**
 * The per-tenant sender registry as the send paths read it: one store query per tenant and
 * SENDER_CACHE_MS, not one per message. Writes through this process forget the tenant at once.
 */
export class SenderDirectory {
  private static readonly byStore = new WeakMap<SenderStore, SenderDirectory>();

  /** The directory every route of this process shares for the store, so an admin write is seen at once. */
  static for(store: SenderStore): SenderDirectory {
    let directory = SenderDirectory.byStore.get(store);
    if (!directory) {
      directory = new SenderDirectory(store);
      SenderDirectory.byStore.set(store, directory);
    }
    return directory;
  }

  private readonly entries = new Map<
    string,
    { until: number; senders: Promise<SenderRecord[]>; last?: SenderRecord[] }
  >();

  constructor(
    private readonly store: SenderStore,
    private readonly ttlMs = SENDER_CACHE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The tenant's registered senders; empty when it has none (it may then send from any valid id).
   * While the store cannot be read, the last list read stands, so messages are still accepted
   * during a database outage; a tenant never read yet gets the store's error.
   */
  senders(tenantId: string): Promise<SenderRecord[]> {
    const now = this.now();
    const cached = this.entries.get(tenantId);
    if (cached && cached.until > now) return cached.senders;
    if (this.entries.size >= MAX_TENANTS) this.entries.clear();
    const previous = cached?.last;
    const entry: { until: number; senders: Promise<SenderRecord[]>; last?: SenderRecord[] } = {
      until: now + this.ttlMs,
      senders: this.store.listSenders(tenantId).then(
        (senders) => {
          entry.last = senders;
          return senders;
        },
        (err: unknown) => {
          if (previous) return previous;
          if (this.entries.get(tenantId) === entry) this.entries.delete(tenantId);
          throw err;
        },
      ),
    };
    if (previous) entry.last = previous;
    this.entries.set(tenantId, entry);
    return entry.senders;
  }

  /** Drops what is remembered of the tenant, after a change to its registry. */
  forget(tenantId: string): void {
    this.entries.delete(tenantId);
  }
}
