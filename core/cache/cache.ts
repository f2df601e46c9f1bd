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

/** What a script may return; both backends hand back the same shapes (Redis converts Lua tables to arrays). */
export type ScriptReply = string | number | null | ScriptReply[];

/**
 * The Redis commands a script's JavaScript twin may use, with Redis semantics (lazy expiry, wrong
 * type errors, PTTL -2 for a missing key and -1 for one without a ttl). Synchronous: the memory
 * cache runs the twin in one turn of the event loop, which is what makes it atomic.
 */
export interface ScriptRedis {
  /** The current time of the cache's clock, ms since the epoch. */
  now(): number;
  get(key: string): string | null;
  set(key: string, value: string, options?: { px?: number }): void;
  del(key: string): number;
  exists(key: string): boolean;
  incrBy(key: string, by: number): number;
  pexpire(key: string, ms: number): boolean;
  pexpireAt(key: string, atMs: number): boolean;
  pttl(key: string): number;
  hget(key: string, field: string): string | null;
  hset(key: string, fields: Record<string, string | number>): void;
  hincrBy(key: string, field: string, by: number): number;
  /** Every field and value, as HGETALL's flat [field, value, …] list. */
  hgetall(key: string): string[];
}

/**
 * One atomic operation written twice, side by side: Lua for Redis (run with EVALSHA) and an
 * equivalent function over the memory cache's data for embedded mode. The arguments reach both
 * as strings, exactly as Lua's ARGV does. The cache contract suite runs every script against both
 * backends, so the two cannot drift apart.
 */
export interface CacheScript<T extends ScriptReply = ScriptReply> {
  /** Unique among scripts; names the Redis command the script is defined as. */
  readonly name: string;
  readonly lua: string;
  memory(redis: ScriptRedis, keys: readonly string[], args: readonly string[]): T;
}

export interface ScriptOptions {
  /**
   * Resolve only once the script's writes reached the replicas the cache waits for (Redis WAIT;
   * RedisCacheOptions.waitReplicas), else reject with PIGEON_ERR_CACHE_UNAVAILABLE although the
   * script ran. For writes whose loss in a failover would let something happen twice: a replica
   * promoted without an approval would approve the same code again.
   */
  replicated?: boolean;
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
  /**
   * Runs a script atomically: keys are KEYS (the only keys it may touch, all in one Redis Cluster
   * slot, core/cache/slots.ts), args are ARGV.
   */
  runScript<T extends ScriptReply>(
    script: CacheScript<T>,
    keys: readonly string[],
    args: readonly (string | number)[],
    options?: ScriptOptions,
  ): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
