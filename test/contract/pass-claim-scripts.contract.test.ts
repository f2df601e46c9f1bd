/**
 * The pass claim's atomic operations (supplier-bridge/src/dispatch/pass-claim.ts) against Redis and
 * the memory cache: the Lua and its JavaScript twin must give the same replies, so the fencing of a
 * taken-over pass holds in embedded mode and on Redis alike. Times are near the real clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Cache } from '../../core/cache/cache.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { newId } from '../../core/ids.ts';
import { Markers } from '../../core/markers.ts';
import { handoverMarker } from '../../routing/receipt-matcher.ts';
import { PassClaim } from '../../supplier-bridge/src/dispatch/pass-claim.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { startRedisCluster } from '../support/redis-cluster.ts';

const SEND_TIMEOUT_MS = 10_000;
const LEASE_MS = 2 * SEND_TIMEOUT_MS + 5_000;

function passClaimScriptsContract(name: string, create: () => Cache): void {
  describe(`pass claim scripts: ${name}`, () => {
    let cache: Cache;
    before(() => {
      cache = create();
    });
    after(async () => {
      await cache.close();
    });

    const claimOf = (messageId: string, now: number) =>
      new PassClaim(cache, messageId, 'send:0', { now: () => now, sendTimeoutMs: SEND_TIMEOUT_MS });
    const handover = (provider: string, messageId: string) =>
      handoverMarker(provider, { messageId, tenantId: 'tenant-1' });

    it('a take-over first: the claim as it stood, and the first claimer’s stamp and result refused', async () => {
      const t0 = Date.now();
      const id = newId(t0);
      const first = claimOf(id, t0);
      const second = claimOf(id, t0 + 1);
      assert.deepEqual(
        await first.open({ checkAbort: false, calling: { provider: 'a', handover: handover('a', id) } }),
        { claimed: true, aborted: false },
      );

      assert.deepEqual(await second.recover(), { kind: 'take-over', claim: { at: t0, provider: 'a' } });
      assert.equal(await first.calling('b', handover('b', id)), false);
      assert.equal(await cache.get(handover('b', id).key), undefined);
      assert.equal(await first.storeResult({ notBefore: 1 }), false);
      assert.equal(await second.calling('b', handover('b', id)), true);
      assert.ok(await cache.get(handover('b', id).key), 'the handover is written with the stamp');
      assert.equal(await second.storeResult({ notBefore: 2 }), true);
      assert.deepEqual(await claimOf(id, t0 + 2).recover(), { kind: 'stored', result: { notBefore: 2 } });
    });

    it('a stamp first: the take-over sees its provider', async () => {
      const t0 = Date.now();
      const id = newId(t0);
      const first = claimOf(id, t0);
      await first.open({ checkAbort: false });
      assert.equal(await first.calling('a', handover('a', id)), true);
      assert.deepEqual(await claimOf(id, t0 + 1).recover(), {
        kind: 'take-over',
        claim: { at: t0, provider: 'a' },
      });
    });

    it('a recovery waits out an earlier recovery’s lease, then cuts it off and fences it', async () => {
      const t0 = Date.now();
      const id = newId(t0);
      await claimOf(id, t0).open({ checkAbort: false });
      const recovering = claimOf(id, t0 + 1);
      assert.equal((await recovering.recover()).kind, 'take-over');

      assert.deepEqual(await claimOf(id, t0 + 2).recover(), { kind: 'wait', notBefore: t0 + 1 + LEASE_MS });
      const late = claimOf(id, t0 + 1 + LEASE_MS);
      assert.deepEqual(await late.recover(), { kind: 'cut-off', claim: { at: t0 } });
      assert.equal(await recovering.calling('a', handover('a', id)), false);
      assert.equal(await late.storeResult({ notBefore: 3 }), true);
    });

    it('a recovery marker written before fencing (a bare time) still gives its lease', async () => {
      const t0 = Date.now();
      const id = newId(t0);
      await claimOf(id, t0).open({ checkAbort: false });
      await cache.set(Markers.recovery(id, 'send:0'), String(t0));
      assert.deepEqual(await claimOf(id, t0 + 1).recover(), { kind: 'wait', notBefore: t0 + LEASE_MS });
      assert.equal((await claimOf(id, t0 + LEASE_MS).recover()).kind, 'cut-off');
    });
  });
}

passClaimScriptsContract('MemoryCache', () => new MemoryCache({ sweepIntervalMs: 0 }));
passClaimScriptsContract(
  'RedisCache',
  () => new RedisCache(TEST_REDIS_URL, { keyPrefix: `pigeon-test:pass-claim:${uniqueSuffix()}:` }),
);
// A Redis Cluster (test/redis/cluster.sh): every key a script names carries the message id as its
// hash tag (core/markers.ts), so each script runs on one node whichever slot it lands in.
passClaimScriptsContract(
  'RedisCache on a Redis Cluster',
  () => new RedisCache(startRedisCluster(), { keyPrefix: `pigeon-test:pass-claim:${uniqueSuffix()}:` }),
);
