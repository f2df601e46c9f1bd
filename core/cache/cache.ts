/**
 * Shared fast state: Redis in production, a Map in embedded mode. Contract:
 * test/contract/cache.contract.test.ts. Every method rejects with a PigeonError
 * `PIGEON_ERR_CACHE_UNAVAILABLE` when the backend cannot answer, so callers can fail closed.
 */
export interface SetOptions {
  ttlMs?: number;
  /** Only set when the key does not exist; the call then resolves false if it did. */
  nx?: boolean;
}

export interface Cache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | undefined>;
  /** Resolves true when the value was written. */
  set(key: string, value: string, options?: SetOptions): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Atomically adds `by` and returns the new value; sets the ttl when the key is created. */
  incrBy(key: string, by: number, ttlMs?: number): Promise<number>;
  /** Prepends to a list, trims it to `max` newest entries, refreshes its ttl. */
  pushCapped(key: string, value: string, max: number, ttlMs: number): Promise<void>;
  /** The list's entries, newest first. */
  list(key: string): Promise<string[]>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
