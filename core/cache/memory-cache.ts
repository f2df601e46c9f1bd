/**
 * The embedded-mode cache: one process, one Map. It mirrors the Redis semantics the gateway relies
 * on (SET drops an old ttl, INCRBY keeps it, a key holds a string, a list or a hash) so that code
 * tested against it behaves the same on Redis.
 */
import { PigeonError } from '../errors.ts';
import { assertOneSlot } from './slots.ts';
import type { Cache, CacheScript, ScriptOptions, ScriptRedis, ScriptReply, SetOptions } from './cache.ts';

export interface MemoryCacheOptions {
  /** Clock in ms since the epoch; tests inject a fake one to drive expiry without waiting. */
  now?: () => number;
  /** How often expired keys nobody reads again are dropped; 0 disables the sweep. Default 30 s. */
  sweepIntervalMs?: number;
}

type Entry =
  | { kind: 'string'; value: string; expiresAt: number | undefined }
  | { kind: 'list'; value: string[]; expiresAt: number | undefined }
  | { kind: 'hash'; value: Map<string, string>; expiresAt: number | undefined };

const INTEGER = /^-?\d+$/;

export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: MemoryCacheOptions = {}) {
    this.#now = options.now ?? Date.now;
    const sweepIntervalMs = options.sweepIntervalMs ?? 30_000;
    if (sweepIntervalMs > 0) {
      // Lazy expiry alone would keep write-once keys (rate-limit windows, codes) forever.
      this.#sweepTimer = setInterval(() => this.sweep(), sweepIntervalMs);
      // The cache must never be the reason a process cannot exit.
      this.#sweepTimer.unref();
    }
  }

  /** Drops every expired entry; runs on the sweep timer and is public so tests can force it. */
  sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#entries.delete(key);
    }
  }

  /** Live (unexpired) entries; for tests and metrics. */
  get size(): number {
    this.sweep();
    return this.#entries.size;
  }

  async get(key: string): Promise<string | undefined> {
    const entry = this.#read(key);
    if (entry === undefined) return undefined;
    if (entry.kind !== 'string') throw wrongType(key);
    return entry.value;
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const expiresAt = this.#expiry(options.ttlMs);
    if (options.nx && this.#read(key) !== undefined) return false;
    this.#entries.set(key, { kind: 'string', value, expiresAt });
    return true;
  }

  async del(key: string): Promise<void> {
    this.#assertOpen();
    this.#entries.delete(key);
  }

  async incrBy(key: string, by: number, ttlMs?: number): Promise<number> {
    assertSafeInteger('by', by);
    const expiresAt = this.#expiry(ttlMs);
    const entry = this.#read(key);
    if (entry === undefined) {
      this.#entries.set(key, { kind: 'string', value: String(by), expiresAt });
      return by;
    }
    if (entry.kind !== 'string') throw wrongType(key);
    const current = INTEGER.test(entry.value) ? Number(entry.value) : Number.NaN;
    const next = current + by;
    if (!Number.isSafeInteger(current) || !Number.isSafeInteger(next)) {
      throw new RangeError(`value of ${key} is not an integer or out of range`);
    }
    entry.value = String(next);
    return next;
  }

  async pushCapped(key: string, value: string, max: number, ttlMs: number): Promise<void> {
    if (!Number.isSafeInteger(max) || max < 1)
      throw new RangeError(`max must be a positive integer, got ${max}`);
    const expiresAt = this.#expiry(ttlMs);
    const entry = this.#read(key);
    if (entry !== undefined && entry.kind !== 'list') throw wrongType(key);
    const list = entry?.value ?? [];
    list.unshift(value);
    if (list.length > max) list.length = max;
    this.#entries.set(key, { kind: 'list', value: list, expiresAt });
  }

  async list(key: string): Promise<string[]> {
    const entry = this.#read(key);
    if (entry === undefined) return [];
    if (entry.kind !== 'list') throw wrongType(key);
    // A copy, so callers cannot mutate the stored list behind the cache's back.
    return [...entry.value];
  }

  async runScript<T extends ScriptReply>(
    script: CacheScript<T>,
    keys: readonly string[],
    args: readonly (string | number)[],
    // One process holds the only copy: there is nothing to replicate to.
    _options?: ScriptOptions,
  ): Promise<T> {
    this.#assertOpen();
    assertOneSlot(script.name, keys);
    // Nothing else runs until the twin returns: that is the whole of its atomicity.
    return script.memory(this.#scriptRedis, keys, args.map(String));
  }

  async ping(): Promise<boolean> {
    return !this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#entries.clear();
  }

  readonly #scriptRedis: ScriptRedis = {
    now: () => this.#now(),
    get: (key) => {
      const entry = this.#read(key);
      if (entry === undefined) return null;
      if (entry.kind !== 'string') throw wrongType(key);
      return entry.value;
    },
    set: (key, value, options = {}) => {
      const expiresAt = options.px === undefined ? undefined : this.#expiry(options.px);
      this.#entries.set(key, { kind: 'string', value, expiresAt });
    },
    del: (key) => (this.#read(key) !== undefined && this.#entries.delete(key) ? 1 : 0),
    exists: (key) => this.#read(key) !== undefined,
    incrBy: (key, by) => {
      assertSafeInteger('by', by);
      const entry = this.#read(key);
      if (entry === undefined) {
        this.#entries.set(key, { kind: 'string', value: String(by), expiresAt: undefined });
        return by;
      }
      if (entry.kind !== 'string') throw wrongType(key);
      const next = toInteger(key, entry.value) + by;
      if (!Number.isSafeInteger(next)) throw new RangeError(`increment of ${key} is out of range`);
      entry.value = String(next);
      return next;
    },
    pexpire: (key, ms) => {
      const entry = this.#read(key);
      if (entry === undefined) return false;
      entry.expiresAt = this.#now() + Math.ceil(ms);
      return true;
    },
    pexpireAt: (key, atMs) => {
      const entry = this.#read(key);
      if (entry === undefined) return false;
      entry.expiresAt = Math.ceil(atMs);
      return true;
    },
    pttl: (key) => {
      const entry = this.#read(key);
      if (entry === undefined) return -2;
      if (entry.expiresAt === undefined) return -1;
      return entry.expiresAt - this.#now();
    },
    hget: (key, field) => this.#hash(key)?.get(field) ?? null,
    hset: (key, fields) => {
      let hash = this.#hash(key);
      if (hash === undefined) {
        hash = new Map();
        this.#entries.set(key, { kind: 'hash', value: hash, expiresAt: undefined });
      }
      for (const [field, value] of Object.entries(fields)) hash.set(field, String(value));
    },
    hincrBy: (key, field, by) => {
      assertSafeInteger('by', by);
      const current = this.#hash(key)?.get(field);
      const next = (current === undefined ? 0 : toInteger(key, current)) + by;
      this.#scriptRedis.hset(key, { [field]: next });
      return next;
    },
    hgetall: (key) => [...(this.#hash(key) ?? [])].flat(),
  };

  #hash(key: string): Map<string, string> | undefined {
    const entry = this.#read(key);
    if (entry === undefined) return undefined;
    if (entry.kind !== 'hash') throw wrongType(key);
    return entry.value;
  }

  #read(key: string): Entry | undefined {
    this.#assertOpen();
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #expiry(ttlMs: number | undefined): number | undefined {
    this.#assertOpen();
    if (ttlMs === undefined) return undefined;
    assertTtl(ttlMs);
    return this.#now() + Math.ceil(ttlMs);
  }

  #assertOpen(): void {
    // Behaves like a Redis client after quit, so callers see the same failure in both modes.
    if (this.#closed) throw new PigeonError('PIGEON_ERR_CACHE_UNAVAILABLE', 'Cache is closed');
  }
}

function assertTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be positive, got ${ttlMs}`);
}

function assertSafeInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be a safe integer, got ${value}`);
}

function toInteger(key: string, value: string): number {
  const n = INTEGER.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new RangeError(`value of ${key} is not an integer or out of range`);
  return n;
}

function wrongType(key: string): Error {
  return new TypeError(`${key} holds the wrong kind of value`);
}
