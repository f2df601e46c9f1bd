import type { Logger } from './logger.ts';

/** Past this many cached tenants a cache starts over, so tenant churn cannot grow it unbounded. */
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  expiresAt: number;
  value: Promise<T | undefined>;
  /** The last value read successfully, kept for a database outage. */
  settled?: T | undefined;
}

/**
 * A per-tenant record of the store (settings, limits), kept in process for `ttlMs` so the hot path
 * does not read the database. Concurrent requests of one tenant share one read. When the store
 * cannot be read, the last value read keeps serving (a tenant held to tight limits stays held); a
 * tenant never read since start gets undefined — the gateway defaults the operator chose for every
 * tenant — rather than having its sends stop with the database. Either way the answer is kept for
 * the TTL so an outage does not add a failing read to every request.
 */
export class TenantCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  logger: Logger | undefined;

  constructor(
    private readonly read: (tenantId: string) => Promise<T | undefined>,
    /** The log event of a failed read. */
    private readonly unreadableEvent: string,
    private readonly now: () => number,
    private readonly ttlMs: number,
  ) {}

  /** The tenant's record, undefined when it has none (or none could be read). */
  get(tenantId: string): Promise<T | undefined> {
    const now = this.now();
    const cached = this.entries.get(tenantId);
    if (cached && cached.expiresAt > now) return cached.value;
    if (!cached && this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const entry: Entry<T> = { expiresAt: now + this.ttlMs, value: Promise.resolve(undefined) };
    if (cached && 'settled' in cached) entry.settled = cached.settled;
    entry.value = this.read(tenantId).then(
      (value) => {
        entry.settled = value;
        return value;
      },
      (err: unknown) => {
        this.logger?.warn(
          { tenantId, err: (err as Error).message, fallback: 'settled' in entry ? 'last_read' : 'defaults' },
          this.unreadableEvent,
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
