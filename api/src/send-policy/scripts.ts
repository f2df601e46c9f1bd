import type { CacheScript, ScriptRedis } from '../../../core/cache/cache.ts';

/**
 * The send policy's one atomic operation, written once for Redis (Lua) and once for the memory
 * cache, side by side. test/contract/send-policy-script.contract.test.ts runs it against both.
 */

/**
 * [index of the refusing key from 1, or 0; ms until it may pass; 1 when this is its first refusal],
 * or for a duplicate [DUPLICATE, ms its claim has left, 0, the first message's id].
 */
export type AdmitReply = [number, number, number] | [number, number, number, string];

/** The first element of the reply to a send the dedup claim names as a duplicate. */
export const DUPLICATE = -1;

/** Bucket state is kept in thousandths of a token: integers, so Lua and JavaScript agree exactly. */
export const MILLI = 1000;

/**
 * Admits one send against a token bucket and any number of fixed-window counters, all or
 * nothing: either the bucket gives a token and every counter takes its increment, or nothing
 * changes and the reply names the first key that refused — so a refused send spends no budget
 * anywhere, and fifty concurrent sends against a cap of five admit exactly five.
 *
 * The bucket (KEYS[1], a hash of `tokens` in thousandths and `updated`) refills at `rate` tokens a
 * second up to `burst`; rate 0 means no bucket, and KEYS[1] is then not touched. A window starts at
 * its key's first hit. Its first refusal marks the key (its count goes to limit + 1) so callers can
 * alert once per window, and a key with a penalty stays refused for that long from its first
 * refusal (blocking a number range after a burst).
 * KEYS bucket, then the counters. ARGV now (ms), rate (tokens per second, an integer), burst, then
 * per counter: increment, limit, window ms, penalty ms (0 = none).
 *
 * A counter at zero (absent) gets its window's ttl as this send takes its first increment: the
 * script is atomic, so no counter it writes is left without one, and a counter already counting
 * needs no ttl read (one call fewer per counter and send).
 *
 * An optional dedup claim comes last: one more key, and two more args (the message id it is
 * claimed with, its ttl in ms). It is judged first: a key already claimed answers DUPLICATE with
 * the first message's id and nothing else is touched; an admitted send claims it. The claim and the
 * counters are one step, so of twenty identical sends at once exactly one is admitted.
 */
export const admitSend: CacheScript<AdmitReply> = {
  name: 'send_admit',
  lua: `
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local counters = math.floor((#ARGV - 3) / 4)
local dedup = nil
if #KEYS > counters + 1 then
  dedup = KEYS[#KEYS]
  local first = redis.call('GET', dedup)
  if first then return {${DUPLICATE}, redis.call('PTTL', dedup), 0, first} end
end
local tokens = burst * ${MILLI}
if rate > 0 then
  local stored = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
  if stored[1] then
    local elapsed = math.max(0, now - tonumber(stored[2]))
    tokens = math.min(tokens, tonumber(stored[1]) + elapsed * rate)
  end
  if tokens < ${MILLI} then return {1, math.ceil((${MILLI} - tokens) / rate), 0} end
end
local currents = {}
for i = 2, counters + 1 do
  local key = KEYS[i]
  local base = 3 + (i - 2) * 4
  local by = tonumber(ARGV[base + 1])
  local limit = tonumber(ARGV[base + 2])
  local current = tonumber(redis.call('GET', key) or '0')
  currents[i] = current
  if current + by > limit then
    local first = 0
    if current <= limit then
      redis.call('INCRBY', key, limit + 1 - current)
      first = 1
      if tonumber(ARGV[base + 4]) > 0 then redis.call('PEXPIRE', key, ARGV[base + 4]) end
    end
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[base + 3])
      ttl = tonumber(ARGV[base + 3])
    end
    return {i, ttl, first}
  end
end
for i = 2, counters + 1 do
  local base = 3 + (i - 2) * 4
  redis.call('INCRBY', KEYS[i], ARGV[base + 1])
  if currents[i] == 0 then redis.call('PEXPIRE', KEYS[i], ARGV[base + 3]) end
end
if rate > 0 then
  redis.call('HSET', KEYS[1], 'tokens', tokens - ${MILLI}, 'updated', now)
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
end
if dedup then redis.call('SET', dedup, ARGV[#ARGV - 1], 'PX', ARGV[#ARGV]) end
return {0, 0, 0}`,
  memory(r: ScriptRedis, keys, a): AdmitReply {
    const [now, rate, burst] = [num(a[0]), num(a[1]), num(a[2])];
    const counters = Math.floor((a.length - 3) / 4);
    const dedup = keys.length > counters + 1 ? keys.at(-1)! : undefined;
    if (dedup !== undefined) {
      const first = r.get(dedup);
      if (first !== null) return [DUPLICATE, r.pttl(dedup), 0, first];
    }
    let tokens = burst * MILLI;
    const bucket = keys[0]!;
    if (rate > 0) {
      const stored = r.hget(bucket, 'tokens');
      if (stored !== null) {
        const elapsed = Math.max(0, now - num(r.hget(bucket, 'updated')));
        tokens = Math.min(tokens, num(stored) + elapsed * rate);
      }
      if (tokens < MILLI) return [1, Math.ceil((MILLI - tokens) / rate), 0];
    }
    const currents: number[] = [];
    for (let i = 1; i <= counters; i++) {
      const key = keys[i]!;
      const base = 3 + (i - 1) * 4;
      const by = num(a[base]);
      const limit = num(a[base + 1]);
      const current = num(r.get(key) ?? '0');
      currents[i] = current;
      if (current + by > limit) {
        let first = 0;
        if (current <= limit) {
          r.incrBy(key, limit + 1 - current);
          first = 1;
          if (num(a[base + 3]) > 0) r.pexpire(key, num(a[base + 3]));
        }
        let ttl = r.pttl(key);
        if (ttl < 0) {
          r.pexpire(key, num(a[base + 2]));
          ttl = num(a[base + 2]);
        }
        return [i + 1, ttl, first];
      }
    }
    for (let i = 1; i <= counters; i++) {
      const base = 3 + (i - 1) * 4;
      r.incrBy(keys[i]!, num(a[base]));
      if (currents[i] === 0) r.pexpire(keys[i]!, num(a[base + 2]));
    }
    if (rate > 0) {
      r.hset(bucket, { tokens: tokens - MILLI, updated: now });
      r.pexpire(bucket, Math.ceil((burst * 1000) / rate) + 1000);
    }
    if (dedup !== undefined) r.set(dedup, a.at(-2)!, { px: num(a.at(-1)) });
    return [0, 0, 0];
  },
};

const num = (value: string | null | undefined): number => Number(value ?? Number.NaN);
