/**
 * The Cache contract, run against every implementation: code that passes on MemoryCache must
 * behave the same on Redis. Expiry is checked with short real ttls on both, not a fake clock,
 * because Redis cannot be given one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache } from '../../core/cache/cache.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';

/** Sleeps to a deadline rather than for a duration, so a slow step does not shift later checks. */
async function sleepUntil(deadline: number): Promise<void> {
  const ms = deadline - Date.now();
  if (ms > 0) await sleep(ms);
}

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
      const start = Date.now();
      assert.equal(await cache.set(k, 'short', { ttlMs: 100, nx: true }), true);
      assert.equal(await cache.get(k), 'short');
      await sleepUntil(start + 160);
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
      await sleepUntil(start + 100);
      // Extending the ttl here would keep the key until ~300 ms.
      assert.equal(await cache.incrBy(k, 2, 200), 5);
      await sleepUntil(start + 250);
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
