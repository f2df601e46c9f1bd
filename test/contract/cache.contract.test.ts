/**
 * The Cache contract, run against every implementation: code that passes on MemoryCache must
 * behave the same on Redis. Expiry is checked with short real ttls on both, not a fake clock,
 * because Redis cannot be given one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache, CacheScript } from '../../core/cache/cache.ts';
import { isPigeonError } from '../../core/errors.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { startRedisCluster } from '../support/redis-cluster.ts';

/** Sleeps to a deadline rather than for a duration, so a slow step does not shift later checks. */
async function sleepUntil(deadline: number): Promise<void> {
  const ms = deadline - Date.now();
  if (ms > 0) await sleep(ms);
}

// Scripts written for the contract alone: each exercises a slice of the commands twins may use.

/** Compare-and-set: KEYS[1] becomes ARGV[2] only if it holds ARGV[1] ('' = absent). */
const compareAndSet: CacheScript<number> = {
  name: 'contract_cas',
  lua: `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`,
  memory(r, [key], [expected, next, ttl]) {
    if ((r.get(key!) ?? '') !== expected) return 0;
    r.set(key!, next!, { px: Number(ttl) });
    return 1;
  },
};

/** Hash commands: sets fields, bumps a counter, replies with the counter and every field. */
const hashRoundTrip: CacheScript<[number, string[]]> = {
  name: 'contract_hash',
  lua: `
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'b', ARGV[2])
local n = redis.call('HINCRBY', KEYS[1], 'n', ARGV[3])
local missing = redis.call('HGET', KEYS[1], 'nope')
if missing then return {-1, {}} end
return {n, redis.call('HGETALL', KEYS[1])}`,
  memory(r, [key], [a, b, by]) {
    r.hset(key!, { a: a!, b: b! });
    const n = r.hincrBy(key!, 'n', Number(by));
    if (r.hget(key!, 'nope') !== null) return [-1, []];
    return [n, r.hgetall(key!)];
  },
};

/** Time to live as PTTL reports it: missing, without a ttl, after PEXPIRE and PEXPIREAT; EXISTS, DEL. */
const ttlProbe: CacheScript<number[]> = {
  name: 'contract_ttl',
  lua: `
local out = {}
out[1] = redis.call('PTTL', KEYS[1])
redis.call('INCRBY', KEYS[1], 5)
out[2] = redis.call('PTTL', KEYS[1])
out[3] = redis.call('PEXPIRE', KEYS[1], ARGV[1])
out[4] = redis.call('PTTL', KEYS[1]) > 0 and 1 or 0
out[5] = redis.call('PEXPIREAT', KEYS[1], ARGV[2])
out[6] = redis.call('EXISTS', KEYS[1])
out[7] = redis.call('DEL', KEYS[1])
out[8] = redis.call('DEL', KEYS[1])
out[9] = redis.call('PEXPIRE', KEYS[1], ARGV[1])
return out`,
  memory(r, [key], [ms, at]) {
    const out: number[] = [];
    out.push(r.pttl(key!));
    r.incrBy(key!, 5);
    out.push(r.pttl(key!));
    out.push(r.pexpire(key!, Number(ms)) ? 1 : 0);
    out.push(r.pttl(key!) > 0 ? 1 : 0);
    out.push(r.pexpireAt(key!, Number(at)) ? 1 : 0);
    out.push(r.exists(key!) ? 1 : 0);
    out.push(r.del(key!));
    out.push(r.del(key!));
    out.push(r.pexpire(key!, Number(ms)) ? 1 : 0);
    return out;
  },
};

/** Reads KEYS[1] as a hash, which fails when it holds a string. */
const wrongKind: CacheScript<string | null> = {
  name: 'contract_wrong_kind',
  lua: `return redis.call('HGET', KEYS[1], 'field')`,
  memory: (r, [key]) => r.hget(key!, 'field'),
};

function cacheContract(name: string, create: () => Cache): void {
  describe(`Cache contract: ${name}`, () => {
    let cache: Cache;
    const used = new Set<string>();
    const key = (label: string): string => {
      used.add(label);
      return label;
    };

    before(() => {
      cache = create();
    });

    after(async () => {
      for (const k of used) await cache.del(k);
      await cache.close();
    });

    it('resolves undefined for a missing key', async () => {
      assert.equal(await cache.get(key('missing')), undefined);
    });

    it('sets and gets a value, overwriting an older one', async () => {
      const k = key('plain');
      assert.equal(await cache.set(k, 'one'), true);
      assert.equal(await cache.get(k), 'one');
      assert.equal(await cache.set(k, 'two'), true);
      assert.equal(await cache.get(k), 'two');
    });

    it('refuses an nx set of an existing key and keeps the old value', async () => {
      const k = key('nx');
      assert.equal(await cache.set(k, 'first', { nx: true }), true);
      assert.equal(await cache.set(k, 'second', { nx: true }), false);
      assert.equal(await cache.get(k), 'first');
    });

    it('expires a value after its ttl, after which nx succeeds again', async () => {
      const k = key('ttl');
      assert.equal(await cache.set(k, 'short', { ttlMs: 100, nx: true }), true);
      // The key was written before the reply came: it expires 100 ms after that at the latest,
      // however long the write took to arrive on a loaded machine.
      const written = Date.now();
      assert.equal(await cache.get(k), 'short');
      await sleepUntil(written + 110);
      assert.equal(await cache.get(k), undefined);
      assert.equal(await cache.set(k, 'again', { ttlMs: 80, nx: true }), true);
    });

    it('drops the old ttl when a key is set again without one', async () => {
      const k = key('ttl-dropped');
      await cache.set(k, 'short', { ttlMs: 60 });
      await cache.set(k, 'lasting');
      await sleep(100);
      assert.equal(await cache.get(k), 'lasting');
    });

    it('increments atomically under 200 concurrent calls', async () => {
      const k = key('counter');
      const results = await Promise.all(Array.from({ length: 200 }, () => cache.incrBy(k, 1, 60_000)));
      assert.equal(await cache.get(k), '200');
      // Every caller saw a distinct intermediate value: no two increments were merged.
      assert.deepEqual(
        results.toSorted((a, b) => a - b),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.equal(await cache.incrBy(k, -50), 150);
    });

    it('sets the ttl when the counter is created and does not extend it', async () => {
      const k = key('window');
      const start = Date.now();
      assert.equal(await cache.incrBy(k, 3, 200), 3);
      const created = Date.now();
      await sleepUntil(start + 100);
      // Extending the ttl here would keep the key until at least start + 300 ms; unextended, it is
      // gone 200 ms after its creation, which came before `created`.
      assert.equal(await cache.incrBy(k, 2, 200), 5);
      await sleepUntil(Math.max(start + 250, created + 210));
      assert.equal(await cache.get(k), undefined);
      assert.equal(await cache.incrBy(k, 1, 200), 1);
    });

    it('keeps the newest max entries of a capped list, newest first', async () => {
      const k = key('list');
      assert.deepEqual(await cache.list(k), []);
      for (const v of ['a', 'b', 'c', 'd', 'e']) await cache.pushCapped(k, v, 3, 60_000);
      assert.deepEqual(await cache.list(k), ['e', 'd', 'c']);
    });

    it('refreshes the ttl of a capped list on every push', async () => {
      const k = key('list-ttl');
      const start = Date.now();
      await cache.pushCapped(k, 'a', 5, 150);
      await sleepUntil(start + 100);
      const refreshed = Date.now();
      await cache.pushCapped(k, 'b', 5, 150);
      // Past the first push's expiry but well inside the second's, however late the push ran.
      await sleepUntil(start + 170);
      assert.deepEqual(await cache.list(k), ['b', 'a']);
      await sleepUntil(refreshed + 200);
      assert.deepEqual(await cache.list(k), []);
    });

    it('deletes a key, and deleting a missing key is not an error', async () => {
      const k = key('deleted');
      await cache.set(k, 'x');
      await cache.del(k);
      assert.equal(await cache.get(k), undefined);
      await cache.del(k);
    });

    it('runs a script atomically: of 100 concurrent compare-and-sets exactly one wins', async () => {
      const k = key('cas');
      const wins = await Promise.all(
        Array.from({ length: 100 }, (_, i) => cache.runScript(compareAndSet, [k], ['', `v${i}`, 60_000])),
      );
      assert.equal(wins.filter((w) => w === 1).length, 1);
      const winner = wins.indexOf(1);
      assert.equal(await cache.get(k), `v${winner}`);
      assert.equal(await cache.runScript(compareAndSet, [k], [`v${winner}`, 'next', 60_000]), 1);
      assert.equal(await cache.get(k), 'next');
    });

    it('gives scripts hashes: set, increment, read back, missing fields', async () => {
      const k = key('hash');
      assert.deepEqual(await cache.runScript(hashRoundTrip, [k], ['x', 'y', 3]), [
        3,
        ['a', 'x', 'b', 'y', 'n', '3'],
      ]);
      const [n, fields] = await cache.runScript(hashRoundTrip, [k], ['z', 'y', -1]);
      assert.equal(n, 2);
      assert.deepEqual(fields, ['a', 'z', 'b', 'y', 'n', '2']);
    });

    it('reports ttls to scripts as Redis does and expires what they set', async () => {
      const k = key('script-ttl');
      const at = Date.now() + 60_000;
      assert.deepEqual(await cache.runScript(ttlProbe, [k], [60_000, at]), [-2, -1, 1, 1, 1, 1, 1, 0, 0]);
      const start = Date.now();
      assert.equal(await cache.runScript(compareAndSet, [k], ['', 'short', 80]), 1);
      await sleepUntil(start + 150);
      assert.equal(await cache.get(k), undefined);
    });

    it('fails a script that reads a key of the wrong kind, as a bug rather than an outage', async () => {
      const k = key('kind');
      await cache.set(k, 'a string');
      await assert.rejects(
        cache.runScript(wrongKind, [k], []),
        (err: unknown) => !(isPigeonError(err) && err.code === 'PIGEON_ERR_CACHE_UNAVAILABLE'),
      );
      assert.equal(await cache.runScript(wrongKind, [key('kind-missing')], []), null);
    });

    it('answers ping', async () => {
      assert.equal(await cache.ping(), true);
    });
  });
}

cacheContract('MemoryCache', () => new MemoryCache());
cacheContract(
  'RedisCache',
  () => new RedisCache(TEST_REDIS_URL, { keyPrefix: `pigeon-test:cache-contract:${uniqueSuffix()}:` }),
);
// A Redis Cluster (test/redis/cluster.sh): the keys of each script share a hash tag, so every
// script runs on one node whichever slot it lands in.
cacheContract(
  'RedisCache on a Redis Cluster',
  () => new RedisCache(startRedisCluster(), { keyPrefix: `pigeon-test:cache-contract:${uniqueSuffix()}:` }),
);

describe('MemoryCache with an injected clock', () => {
  it('expires lazily on read and drops unread expired keys on sweep', async () => {
    let now = 1_000;
    const cache = new MemoryCache({ now: () => now, sweepIntervalMs: 0 });
    await cache.set('read', 'v', { ttlMs: 10 });
    await cache.set('unread', 'v', { ttlMs: 10 });
    await cache.set('forever', 'v');
    now += 9;
    assert.equal(await cache.get('read'), 'v');
    now += 1;
    assert.equal(await cache.get('read'), undefined);
    cache.sweep();
    assert.equal(cache.size, 1);
    await cache.close();
  });
});
