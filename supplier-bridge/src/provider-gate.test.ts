/**
 * The provider gate's contract, run against the memory cache and real Redis: both run the same
 * token bucket (Lua in Redis, takeToken in memory) and must admit exactly the same sends.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Cache } from '../../core/cache/cache.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../../test/support/infra.ts';
import { type Admission, CacheProviderGate, takeToken } from './provider-gate.ts';

const T0 = 1_900_000_000_000;

function gateContract(name: string, createCache: () => Cache): void {
  describe(`Provider gate: ${name}`, () => {
    const caches: Cache[] = [];
    after(async () => {
      for (const cache of caches) await cache.close();
    });
    const setup = () => {
      const cache = createCache();
      caches.push(cache);
      const clock = { now: T0 };
      return {
        cache,
        clock,
        gate: new CacheProviderGate(cache, () => clock.now),
        provider: `p-${uniqueSuffix()}`,
      };
    };
    const granted = (a: Admission) => (a.granted ? a.waitMs : undefined);

    test('a provider without a rate limit admits every send at once', async () => {
      const { gate, provider } = setup();
      for (let i = 0; i < 50; i++) {
        assert.deepEqual(await gate.acquire(provider, { tps: undefined, lane: 'bulk' }, 0), {
          granted: true,
          waitMs: 0,
        });
      }
    });

    test('a full bucket admits one second of sends, then urgent sends queue for the refill', async () => {
      const { gate, provider } = setup();
      const high = { tps: 10, lane: 'high' as const };
      for (let i = 0; i < 10; i++) assert.equal(granted(await gate.acquire(provider, high, 1_000)), 0);
      assert.equal(granted(await gate.acquire(provider, high, 1_000)), 100, 'the 11th waits for one token');
      assert.equal(granted(await gate.acquire(provider, high, 1_000)), 200);
      const tooLong = await gate.acquire(provider, high, 150);
      assert.equal(tooLong.granted, false, 'a wait beyond the limit is refused');
    });

    test('a token given back is taken again at once, and never lifts the bucket above its burst', async () => {
      const { gate, provider } = setup();
      const high = { tps: 3, lane: 'high' as const };
      for (let i = 0; i < 3; i++) assert.equal(granted(await gate.acquire(provider, high, 1_000)), 0);
      await gate.refund(provider, high);
      assert.equal(granted(await gate.acquire(provider, high, 1_000)), 0, 'the refunded token goes now');
      assert.ok((granted(await gate.acquire(provider, high, 1_000)) ?? 0) > 0, 'the next one waits');
      const fresh = `p-${uniqueSuffix()}`;
      for (let i = 0; i < 5; i++) await gate.refund(fresh, high);
      await gate.acquire(fresh, high, 1_000);
      for (let i = 0; i < 5; i++) await gate.refund(fresh, high);
      for (let i = 0; i < 3; i++) assert.equal(granted(await gate.acquire(fresh, high, 1_000)), 0);
      assert.ok((granted(await gate.acquire(fresh, high, 1_000)) ?? 0) > 0, 'three tokens at most');
    });

    test('bulk leaves a reserve that only urgent traffic may take', async () => {
      const { gate, clock, provider } = setup();
      const bulk = { tps: 10, lane: 'bulk' as const };
      let admitted = 0;
      for (let i = 0; i < 20; i++) if ((await gate.acquire(provider, bulk, 1_000)).granted) admitted++;
      assert.equal(admitted, 8, 'bulk stops with 20 % of the burst left');
      const refused = await gate.acquire(provider, bulk, 1_000);
      assert.deepEqual(refused, { granted: false, retryInMs: 100 });
      assert.equal(
        granted(await gate.acquire(provider, { tps: 10, lane: 'high' }, 0)),
        0,
        'an OTP still goes now',
      );
      assert.equal(granted(await gate.acquire(provider, { tps: 10, lane: 'high' }, 0)), 0);
      clock.now += 100;
      assert.equal(
        (await gate.acquire(provider, bulk, 1_000)).granted,
        false,
        'the refill goes to the reserve first',
      );
      clock.now += 300;
      assert.equal(granted(await gate.acquire(provider, bulk, 1_000)), 0);
    });

    test('a paused provider admits nothing until the pause passes; a shorter pause does not shorten it', async () => {
      const { gate, clock, provider } = setup();
      const limit = { tps: 100, lane: 'high' as const };
      await gate.pause(provider, T0 + 30_000);
      await gate.pause(provider, T0 + 5_000);
      assert.deepEqual(await gate.acquire(provider, limit, 60_000), { granted: false, retryInMs: undefined });
      clock.now = T0 + 29_999;
      assert.equal((await gate.acquire(provider, { tps: undefined, lane: 'high' }, 0)).granted, false);
      clock.now = T0 + 30_000;
      assert.equal(granted(await gate.acquire(provider, limit, 0)), 0);
    });
  });
}

gateContract('memory', () => new MemoryCache({ sweepIntervalMs: 0 }));
gateContract('redis', () => new RedisCache(TEST_REDIS_URL));

test('two bridges on one Redis share one bucket per provider', async (t) => {
  const [one, two] = [new RedisCache(TEST_REDIS_URL), new RedisCache(TEST_REDIS_URL)];
  t.after(async () => {
    await one.close();
    await two.close();
  });
  const provider = `shared-${uniqueSuffix()}`;
  const gates = [new CacheProviderGate(one, () => T0), new CacheProviderGate(two, () => T0)];
  let admitted = 0;
  for (let i = 0; i < 20; i++) {
    if ((await gates[i % 2]!.acquire(provider, { tps: 6, lane: 'normal' }, 0)).granted) admitted++;
  }
  assert.equal(admitted, 5, 'six tokens less the normal lane reserve, across both');
});

test('the bucket refills at the configured rate, never above one second of burst', () => {
  let step = takeToken(undefined, T0, { tps: 4, lane: 'high' }, 0);
  for (let i = 0; i < 3; i++) step = takeToken(step.state, T0, { tps: 4, lane: 'high' }, 0);
  assert.equal(step.state.tokens, 0);
  step = takeToken(step.state, T0 + 60_000, { tps: 4, lane: 'high' }, 0);
  assert.equal(step.state.tokens, 3, 'refilled to the burst of 4, less the one just taken');
});
