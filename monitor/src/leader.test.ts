import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache } from '../../core/cache/cache.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { newId } from '../../core/ids.ts';
import { TEST_REDIS_URL } from '../../test/support/infra.ts';
import { startTcpProxy } from '../../test/support/tcp-proxy.ts';
import { Leadership } from './leader.ts';

const redis = new RedisCache(TEST_REDIS_URL);
after(() => redis.close());

for (const [name, cache] of [
  ['memory', new MemoryCache()],
  ['redis', redis],
] as Array<[string, Cache]>) {
  test(`${name}: one holder at a time; the lease passes on when released or lapsed`, async () => {
    const key = `monitor:leader:test:${newId()}`;
    const a = new Leadership(cache, 'a', 300, key);
    const b = new Leadership(cache, 'b', 300, key);
    assert.equal(await a.renew(), true);
    assert.equal(await b.renew(), false);
    assert.equal(await a.renew(), true, 'renewing extends it');
    await a.release();
    assert.equal(a.leader, false);
    assert.equal(await b.renew(), true);
    assert.equal(await a.renew(), false);
    await sleep(400);
    assert.equal(await a.renew(), true, 'b stopped renewing: the lease lapsed');
    await b.release();
    assert.equal(await a.renew(), true, 'releasing a lease one does not hold changes nothing');
  });
}

test('while Redis is unreachable each replica keeps its role: the acting one goes on alerting', async () => {
  const key = `monitor:leader:test:${newId()}`;
  const target = new URL(TEST_REDIS_URL);
  const proxy = await startTcpProxy({ targetHost: target.hostname, targetPort: Number(target.port || 6379) });
  const viaProxy = new RedisCache(`redis://127.0.0.1:${proxy.port}`);
  try {
    const acting = new Leadership(viaProxy, 'a', 30_000, key);
    const standby = new Leadership(viaProxy, 'b', 30_000, key);
    assert.equal(await acting.renew(), true);
    assert.equal(await standby.renew(), false);
    proxy.cut();
    assert.equal(await acting.renew(), true, 'still acting');
    assert.equal(await standby.renew(), false, 'still standing by');
    proxy.restore();
  } finally {
    await viaProxy.close();
    await proxy.close();
  }
});
