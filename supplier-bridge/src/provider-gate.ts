import type { Cache, CacheScript, ScriptRedis } from '../../core/cache/cache.ts';
import type { Lane } from '../../core/message.ts';

/**
 * Admission to a provider: its send rate (TPS) limit, which the provider enforces per account and
 * so must be shared by every bridge instance, and the pause a `429 Retry-After` asks for.
 */
export interface ProviderGate {
  /** Asks to send one message to `provider` now; see Admission. */
  acquire(provider: string, limit: TpsLimit, maxWaitMs: number): Promise<Admission>;
  /** Sends no more to `provider` before `until` (epoch ms). */
  pause(provider: string, until: number): Promise<void>;
  /**
   * Gives back a token granted for a send that did not go out: it was taken in the same round trip
   * as the pass's claim, before the pass knew it would call (a replay, an abort, an opt-out).
   */
  refund(provider: string, limit: TpsLimit): Promise<void>;
}

/**
 * `granted` with a wait: the send is reserved, go after `waitMs`. Not granted: the provider is
 * paused (`retryInMs` undefined) or has no token now; ask again after `retryInMs`.
 */
export type Admission = { granted: true; waitMs: number } | { granted: false; retryInMs: number | undefined };

export interface TpsLimit {
  /** Sends per second; 0 or absent means unlimited (only pauses apply). */
  tps: number | undefined;
  lane: Lane;
}

/**
 * Tokens a lane must leave in the bucket, as a share of the burst: a bulk backlog can use the
 * provider's whole rate, but never the last tokens an OTP or an alert needs right now. Only the
 * high lane may borrow against the refill (queue for a token); the others ask again later.
 */
export const LANE_RESERVE: Record<Lane, number> = { high: 0, normal: 0.1, bulk: 0.2 };

export interface BucketState {
  tokens: number;
  updatedAt: number;
  pausedUntil: number;
}

/**
 * The token bucket, as a pure step. Tokens refill at `tps` up to a one-second burst. The same
 * arithmetic runs in Lua for Redis (provider-gate-script.ts) so all bridges share one bucket.
 */
export function takeToken(
  state: BucketState | undefined,
  now: number,
  limit: TpsLimit,
  maxWaitMs: number,
): { state: BucketState; admission: Admission } {
  const pausedUntil = state?.pausedUntil ?? 0;
  const tps = limit.tps ?? 0;
  const burst = Math.max(1, tps);
  const elapsed = Math.max(0, now - (state?.updatedAt ?? now));
  const tokens = tps <= 0 ? 0 : Math.min(burst, (state?.tokens ?? burst) + (elapsed * tps) / 1000);
  const unchanged = { tokens, updatedAt: now, pausedUntil };
  if (pausedUntil > now) return { state: unchanged, admission: { granted: false, retryInMs: undefined } };
  if (tps <= 0) return { state: unchanged, admission: { granted: true, waitMs: 0 } };
  const reserve = burst * LANE_RESERVE[limit.lane];
  if (tokens - 1 >= reserve) {
    return {
      state: { tokens: tokens - 1, updatedAt: now, pausedUntil },
      admission: { granted: true, waitMs: 0 },
    };
  }
  if (limit.lane === 'high') {
    const waitMs = Math.ceil(((1 - tokens) * 1000) / tps);
    if (waitMs <= maxWaitMs) {
      return {
        state: { tokens: tokens - 1, updatedAt: now, pausedUntil },
        admission: { granted: true, waitMs },
      };
    }
  }
  return {
    state: unchanged,
    admission: { granted: false, retryInMs: Math.ceil(((reserve + 1 - tokens) * 1000) / tps) },
  };
}

/** Buckets idle this long are dropped; a fresh one starts full, which is the same thing. */
const BUCKET_IDLE_TTL_MS = 3_600_000;

function readBucket(redis: ScriptRedis, key: string): BucketState | undefined {
  const tokens = redis.hget(key, 'tokens');
  const pausedUntil = Number(redis.hget(key, 'paused') ?? 0);
  if (tokens === null) return pausedUntil > 0 ? { tokens: Infinity, updatedAt: 0, pausedUntil } : undefined;
  return { tokens: Number(tokens), updatedAt: Number(redis.hget(key, 'updated')), pausedUntil };
}

/**
 * takeToken on a Redis hash {tokens, updated, paused}. ARGV: now, tps, lane, maxWaitMs. Replies
 * {1, waitMs} when granted, {0, retryInMs} when not, and {0, -1} while paused. Lua numbers become
 * integers on the way out, so waits are whole milliseconds (rounded up) in both twins.
 */
export const TAKE_TOKEN_SCRIPT: CacheScript<[number, number]> = {
  name: 'pigeonTakeToken',
  lua: `
local now, tps, lane, maxWait = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local reserveShare = ({high = 0, normal = ${LANE_RESERVE.normal}, bulk = ${LANE_RESERVE.bulk}})[lane] or 0
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
if paused > now then return {0, -1} end
if tps <= 0 then return {1, 0} end
local burst = math.max(1, tps)
local stored = redis.call('HGET', KEYS[1], 'tokens')
local tokens = burst
if stored then
  local updated = tonumber(redis.call('HGET', KEYS[1], 'updated'))
  tokens = math.min(burst, tonumber(stored) + math.max(0, now - updated) * tps / 1000)
end
local reserve = burst * reserveShare
local granted, wait = 0, 0
if tokens - 1 >= reserve then
  granted, tokens = 1, tokens - 1
elseif lane == 'high' and math.ceil((1 - tokens) * 1000 / tps) <= maxWait then
  granted, wait, tokens = 1, math.ceil((1 - tokens) * 1000 / tps), tokens - 1
else
  wait = math.ceil((reserve + 1 - tokens) * 1000 / tps)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], ${BUCKET_IDLE_TTL_MS})
return {granted, wait}
`,
  memory(redis, keys, args) {
    const key = keys[0]!;
    const [now, tps, lane, maxWait] = [Number(args[0]), Number(args[1]), args[2] as Lane, Number(args[3])];
    const step = takeToken(readBucket(redis, key), now, { tps, lane }, maxWait);
    if (step.state.pausedUntil > now) return [0, -1];
    if (tps > 0) {
      redis.hset(key, { tokens: String(step.state.tokens), updated: String(now) });
      redis.pexpire(key, BUCKET_IDLE_TTL_MS);
    }
    return step.admission.granted ? [1, step.admission.waitMs] : [0, step.admission.retryInMs ?? -1];
  },
};

/** Pauses a bucket until ARGV[1] (never shortens an existing pause). */
export const PAUSE_BUCKET_SCRIPT: CacheScript<number> = {
  name: 'pigeonPauseBucket',
  lua: `
local until_ = tonumber(ARGV[1])
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
if until_ > paused then redis.call('HSET', KEYS[1], 'paused', ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ${BUCKET_IDLE_TTL_MS})
return 1
`,
  memory(redis, keys, args) {
    const key = keys[0]!;
    if (Number(args[0]) > Number(redis.hget(key, 'paused') ?? 0)) redis.hset(key, { paused: args[0]! });
    redis.pexpire(key, BUCKET_IDLE_TTL_MS);
    return 1;
  },
};

/** Puts one token back (never above the burst); ARGV: tps. A missing bucket is full already. */
export const REFUND_TOKEN_SCRIPT: CacheScript<number> = {
  name: 'pigeonRefundToken',
  lua: `
local tps = tonumber(ARGV[1])
local tokens = redis.call('HGET', KEYS[1], 'tokens')
if tps <= 0 or not tokens then return 0 end
redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(math.max(1, tps), tonumber(tokens) + 1)))
return 1
`,
  memory(redis, keys, args) {
    const key = keys[0]!;
    const tps = Number(args[0]);
    const tokens = redis.hget(key, 'tokens');
    if (tps <= 0 || tokens === null) return 0;
    redis.hset(key, { tokens: String(Math.min(Math.max(1, tps), Number(tokens) + 1)) });
    return 1;
  },
};

export const bucketKey = (provider: string) => `bridge:bucket:${provider}`;

/**
 * The gate as one token bucket per provider in the cache: in Redis it is shared by every bridge,
 * as the provider's own limit is per account; in embedded mode it lives in the memory cache.
 */
export class CacheProviderGate implements ProviderGate {
  constructor(
    private readonly cache: Cache,
    private readonly now: () => number = Date.now,
  ) {}

  async acquire(provider: string, limit: TpsLimit, maxWaitMs: number): Promise<Admission> {
    const [granted, wait] = await this.cache.runScript(
      TAKE_TOKEN_SCRIPT,
      [bucketKey(provider)],
      [this.now(), limit.tps ?? 0, limit.lane, Math.max(0, Math.floor(maxWaitMs))],
    );
    if (granted === 1) return { granted: true, waitMs: wait };
    return { granted: false, retryInMs: wait < 0 ? undefined : wait };
  }

  async pause(provider: string, until: number): Promise<void> {
    await this.cache.runScript(PAUSE_BUCKET_SCRIPT, [bucketKey(provider)], [Math.ceil(until)]);
  }

  async refund(provider: string, limit: TpsLimit): Promise<void> {
    await this.cache.runScript(REFUND_TOKEN_SCRIPT, [bucketKey(provider)], [limit.tps ?? 0]);
  }
}
