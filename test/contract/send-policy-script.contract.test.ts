/**
 * The send policy's atomic admission (api/src/send-policy/scripts.ts) against Redis and the memory
 * cache: the Lua and its JavaScript twin must give the same replies and leave the same state, and
 * admit exactly as many concurrent sends as the limits allow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { admitSend, DUPLICATE } from '../../api/src/send-policy/scripts.ts';
import { duplicateOf, planAdmission, refusalOf, scriptInput } from '../../api/src/send-policy/plan.ts';
import { localPeriods } from '../../core/local-periods.ts';
import type { Cache } from '../../core/cache/cache.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { newId } from '../../core/ids.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { startRedisCluster } from '../support/redis-cluster.ts';

function sendPolicyScriptContract(name: string, create: () => Cache): void {
  describe(`send policy script: ${name}`, () => {
    let cache: Cache;

    before(() => {
      cache = create();
    });
    after(async () => {
      await cache.close();
    });

    /** Admits against a bucket of `rate`/s and `burst`, and windows of [by, limit, windowMs, penaltyMs]. */
    const admit = (bucket: string, now: number, rate: number, burst: number, windows: [string, number[]][]) =>
      cache.runScript(
        admitSend,
        [bucket, ...windows.map(([key]) => key)],
        [now, rate, burst, ...windows.flatMap(([, args]) => args)],
      );

    it('admits exactly five of fifty concurrent sends against a cap of five', async () => {
      const suffix = newId();
      const now = Date.now();
      const replies = await Promise.all(
        Array.from({ length: 50 }, () =>
          admit(`send:bucket:{${suffix}}`, now, 1000, 1000, [
            [`send:to:hour:{${suffix}}`, [1, 5, 3_600_000, 0]],
          ]),
        ),
      );
      assert.equal(replies.filter(([refused]) => refused === 0).length, 5);
      assert.equal(replies.filter(([refused, , first]) => refused === 2 && first === 1).length, 1);
      assert.equal(await cache.get(`send:to:hour:{${suffix}}`), '6', 'five sends, then marked refused');
    });

    it('gives a bucket of five exactly five of fifty concurrent sends, and a token back per 1/rate', async () => {
      const bucket = `send:bucket:${newId()}`;
      const now = Date.now();
      const replies = await Promise.all(Array.from({ length: 50 }, () => admit(bucket, now, 2, 5, [])));
      assert.equal(replies.filter(([refused]) => refused === 0).length, 5);
      const refusal = replies.find(([refused]) => refused === 1)!;
      assert.deepEqual(refusal, [1, 500, 0], 'one token at 2/s comes back in 500 ms');
      assert.deepEqual(await admit(bucket, now + 499, 2, 5, []), [1, 1, 0]);
      assert.deepEqual(await admit(bucket, now + 500, 2, 5, []), [0, 0, 0]);
      assert.deepEqual(await admit(bucket, now + 500, 2, 5, []), [1, 500, 0]);
      // A long pause refills no more than the burst.
      const later = await Promise.all(
        Array.from({ length: 8 }, () => admit(bucket, now + 3_600_000, 2, 5, [])),
      );
      assert.equal(later.filter(([refused]) => refused === 0).length, 5);
    });

    it('spends no token and counts nowhere when a window refuses', async () => {
      const suffix = newId();
      const bucket = `send:bucket:{${suffix}}`;
      const [day, spend] = [`send:to:day:{${suffix}}`, `send:spend:{${suffix}}`];
      const now = Date.now();
      assert.deepEqual(
        await admit(bucket, now, 1, 2, [
          [day, [1, 5, 60_000, 0]],
          [spend, [600, 1000, 60_000, 0]],
        ]),
        [0, 0, 0],
      );
      const [refused, retryMs, first] = await admit(bucket, now, 1, 2, [
        [day, [1, 5, 60_000, 0]],
        [spend, [600, 1000, 60_000, 0]],
      ]);
      assert.deepEqual([refused, first], [3, 1]);
      assert.ok(retryMs > 0 && retryMs <= 60_000, `retry ${retryMs}`);
      assert.equal(await cache.get(day), '1', 'the refused send did not count');
      assert.equal(await cache.get(spend), '1001', 'marked as refused: limit + 1');
      assert.deepEqual(await admit(bucket, now, 1, 2, []), [0, 0, 0], 'the token is still there');
      assert.equal((await admit(bucket, now, 1, 2, []))[0], 1);
    });

    it('with rate 0 has no bucket and leaves its key alone', async () => {
      const suffix = newId();
      const bucket = `send:bucket:{${suffix}}`;
      for (let i = 0; i < 20; i++) assert.deepEqual(await admit(bucket, Date.now(), 0, 0, []), [0, 0, 0]);
      assert.equal(await cache.get(bucket), undefined);
    });

    it('counts windows all or nothing, flags the first refusal once and applies a penalty', async () => {
      const suffix = newId();
      const bucket = `otp:rl:bucket:{${suffix}}`;
      const [a, b] = [`otp:rl:test:a:{${suffix}}`, `otp:rl:test:b:{${suffix}}`];
      const hit = (byA: number, byB: number) =>
        admit(bucket, Date.now(), 0, 0, [
          [a, [byA, 10, 60_000, 0]],
          [b, [byB, 3, 60_000, 600_000]],
        ]);
      assert.deepEqual(await hit(4, 1), [0, 0, 0]);
      assert.deepEqual(await hit(4, 2), [0, 0, 0]);
      const [refused, retryMs, first] = await hit(1, 1);
      assert.deepEqual([refused, first], [3, 1]);
      assert.ok(retryMs > 590_000 && retryMs <= 600_000, `penalty ${retryMs}`);
      assert.deepEqual((await hit(1, 1)).slice(0, 1).concat((await hit(1, 1))[2]), [3, 0]);
      assert.equal(await cache.get(a), '8', 'refused hits spent nothing');
      assert.equal(await cache.get(b), '4', 'marked as refused: limit + 1');
      const [refusedA, retryA] = await admit(bucket, Date.now(), 0, 0, [[a, [3, 10, 60_000, 0]]]);
      assert.equal(refusedA, 2);
      assert.ok(retryA > 0 && retryA <= 60_000);
    });

    it('starts a window at its first hit and lets a spend larger than the cap fail alone', async () => {
      const tenant = `{${newId()}}`;
      const bucket = `otp:rl:bucket:${tenant}`;
      const key = `otp:rl:test:spend:${tenant}`;
      assert.deepEqual(await admit(bucket, Date.now(), 0, 0, [[key, [250, 1000, 150, 0]]]), [0, 0, 0]);
      const [refused, retry, first] = await admit(bucket, Date.now(), 0, 0, [[key, [800, 1000, 150, 0]]]);
      assert.deepEqual([refused, first], [2, 1]);
      assert.ok(retry > 0 && retry <= 150);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await admit(bucket, Date.now(), 0, 0, [[key, [800, 1000, 150, 0]]]), [0, 0, 0]);
    });

    it('keeps a window from its first hit: later hits do not extend it, and a zero increment still ends', async () => {
      const tenant = `{${newId()}}`;
      const bucket = `otp:rl:bucket:${tenant}`;
      const key = `otp:rl:test:window:${tenant}`;
      const hit = () => admit(bucket, Date.now(), 0, 0, [[key, [1, 3, 300, 0]]]);
      assert.deepEqual(await hit(), [0, 0, 0]);
      await new Promise((r) => setTimeout(r, 150));
      assert.deepEqual(await hit(), [0, 0, 0]);
      assert.deepEqual(await hit(), [0, 0, 0]);
      // Full now; the window opened by the first hit ends 300 ms after it, not after the last one.
      const [refused, retry] = await hit();
      assert.equal(refused, 2);
      assert.ok(retry > 0 && retry <= 160, `window left ${retry} ms`);
      await new Promise((r) => setTimeout(r, retry + 50));
      assert.deepEqual(await hit(), [0, 0, 0], 'a new window after the first one ended');

      const free = `otp:rl:test:free:${tenant}`;
      assert.deepEqual(await admit(bucket, Date.now(), 0, 0, [[free, [0, 5, 200, 0]]]), [0, 0, 0]);
      assert.equal(await cache.get(free), '0');
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(await cache.get(free), undefined, 'a counter a zero increment made ends with its window');
    });

    /** Admits with a dedup claim last: the key, the id to claim it with and its ttl. */
    const admitOnce = (
      bucket: string,
      now: number,
      windows: [string, number[]][],
      dedup: [string, string, number],
    ) =>
      cache.runScript(
        admitSend,
        [bucket, ...windows.map(([key]) => key), dedup[0]],
        [now, 1000, 1000, ...windows.flatMap(([, args]) => args), dedup[1], dedup[2]],
      );

    it('admits one of twenty identical sends at once and answers the rest with its id', async () => {
      const suffix = newId();
      const dedupKey = `send:dedup:{${suffix}}:fp`;
      const counter = `send:to:day:{${suffix}}`;
      const ids = Array.from({ length: 20 }, () => newId());
      const replies = await Promise.all(
        ids.map((id) =>
          admitOnce(
            `send:bucket:{${suffix}}`,
            Date.now(),
            [[counter, [1, 100, 60_000, 0]]],
            [dedupKey, id, 600_000],
          ),
        ),
      );
      const admitted = replies.flatMap((reply, i) => (reply[0] === 0 ? [ids[i]] : []));
      assert.equal(admitted.length, 1);
      const duplicates = replies.filter(([refused]) => refused === DUPLICATE);
      assert.equal(duplicates.length, 19);
      for (const reply of duplicates) {
        assert.equal(duplicateOf(reply), admitted[0]);
        assert.ok(reply[1] > 590_000 && reply[1] <= 600_000, `claim ttl ${reply[1]}`);
      }
      assert.equal(await cache.get(counter), '1', 'duplicates count nowhere');
      assert.equal(await cache.get(dedupKey), admitted[0]);
    });

    it('claims nothing for a send another limit refuses, and frees the claim when it ends', async () => {
      const suffix = newId();
      const dedupKey = `send:dedup:{${suffix}}:fp`;
      const counter = `send:to:day:{${suffix}}`;
      const full = await admitOnce(
        `send:bucket:{${suffix}}`,
        Date.now(),
        [[counter, [1, 0, 60_000, 0]]],
        [dedupKey, 'A', 100],
      );
      assert.equal(full[0], 2);
      assert.equal(await cache.get(dedupKey), undefined, 'a refused send is no first message');
      assert.deepEqual(
        await admitOnce(`send:bucket:{${suffix}}`, Date.now(), [], [dedupKey, 'B', 100]),
        [0, 0, 0],
      );
      assert.equal(
        duplicateOf(await admitOnce(`send:bucket:{${suffix}}`, Date.now(), [], [dedupKey, 'C', 100])),
        'B',
      );
      await new Promise((r) => setTimeout(r, 150));
      assert.deepEqual(
        await admitOnce(`send:bucket:{${suffix}}`, Date.now(), [], [dedupKey, 'D', 100]),
        [0, 0, 0],
      );
    });

    it('holds a marketing frequency cap of three a day when eight sends to one number arrive at once', async () => {
      const tenantId = `t-${newId()}`;
      const now = Date.now();
      const periods = localPeriods('America/Los_Angeles', now);
      const limits = {
        ratePerSecond: 0,
        burst: 1,
        perRecipientHour: 0,
        perRecipientDay: 0,
        dailySpendCap: 0,
        monthlySpendCap: 0,
      };
      const pumping = { prefixBurst: { limit: 10, windowMs: 60_000 }, prefixBlockMs: 0 };
      const plans = Array.from({ length: 8 }, () =>
        planAdmission(
          {
            tenantId,
            e164: '+14155550123',
            messageClass: 'marketing',
            costMicros: 0,
            marketingCaps: { perDay: 3, perWeek: 10, periods },
          },
          limits,
          pumping,
          now,
        ),
      );
      const replies = await Promise.all(
        plans.map((plan) => {
          const { keys, args } = scriptInput(plan, now);
          return cache.runScript(admitSend, keys, args);
        }),
      );
      assert.equal(replies.filter(([refused]) => refused === 0).length, 3);
      const refusals = replies.flatMap((reply, i) => refusalOf(plans[i]!, reply) ?? []);
      assert.equal(refusals.length, 5);
      for (const { error } of refusals) {
        assert.equal(error.code, 'PIGEON_ERR_FREQUENCY_CAPPED');
        // Retry-After points at the recipient's next midnight.
        const retryAfterMs = (error.retryAfterSeconds ?? 0) * 1000;
        assert.ok(Math.abs(now + retryAfterMs - periods.dayEndsAt) <= 1000, `retry after ${retryAfterMs}`);
      }
      const weekKey = plans[0]!.windows.find((w) => w.key.startsWith('send:mkt:week:'))!.key;
      assert.equal(await cache.get(weekKey), '3', 'the refused five did not count in the week');
    });
  });
}

sendPolicyScriptContract('MemoryCache', () => new MemoryCache());
sendPolicyScriptContract(
  'RedisCache',
  () => new RedisCache(TEST_REDIS_URL, { keyPrefix: `pigeon-test:send-policy:${uniqueSuffix()}:` }),
);
// A Redis Cluster (test/redis/cluster.sh): the keys of each script share a hash tag, so every
// script runs on one node whichever slot it lands in.
sendPolicyScriptContract(
  'RedisCache on a Redis Cluster',
  () => new RedisCache(startRedisCluster(), { keyPrefix: `pigeon-test:send-policy:${uniqueSuffix()}:` }),
);
