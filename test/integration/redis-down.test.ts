/**
 * RedisCache when Redis disappears: callers must get PIGEON_ERR_CACHE_UNAVAILABLE quickly (so rate
 * limits and OTP checks can fail closed) instead of hanging, and the cache must heal by itself once
 * Redis is back. The link is cut with a TCP proxy in front of the real Redis.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { isPigeonError } from '../../core/errors.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const FAIL_FAST_MS = 3000;
const TTL_MS = 60_000;

async function assertUnavailable(label: string, call: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await assert.rejects(call(), (err: unknown) => {
    assert.ok(isPigeonError(err), `${label}: expected a PigeonError, got ${String(err)}`);
    assert.equal(err.code, 'PIGEON_ERR_CACHE_UNAVAILABLE', label);
    return true;
  });
  const elapsed = performance.now() - started;
  assert.ok(elapsed < FAIL_FAST_MS, `${label} took ${Math.round(elapsed)} ms to fail`);
}

describe('RedisCache through a proxy that is cut and restored', () => {
  const redis = new URL(TEST_REDIS_URL);
  const keyPrefix = `pigeon-test:redis-down:${uniqueSuffix()}:`;
  let proxy: TcpProxy;
  let cache: RedisCache;

  before(async () => {
    proxy = await startTcpProxy({ targetHost: redis.hostname, targetPort: Number(redis.port || 6379) });
    cache = new RedisCache(`redis://127.0.0.1:${proxy.port}`, { keyPrefix });
  });

  after(async () => {
    await cache.del('k').catch(() => undefined);
    await cache.del('counter').catch(() => undefined);
    await cache.close();
    await proxy.close();
  });

  it('works while the link is up', async () => {
    assert.equal(await cache.set('k', 'before', { ttlMs: TTL_MS }), true);
    assert.equal(await cache.get('k'), 'before');
    assert.equal(await cache.incrBy('counter', 1, TTL_MS), 1);
    assert.equal(await cache.ping(), true);
  });

  it('fails fast with PIGEON_ERR_CACHE_UNAVAILABLE while the link is cut', async () => {
    // Written to the socket just before the cut, so it is lost in flight: it must still fail in
    // time, and must not be replayed once the link is back (checked after the restore).
    await assertUnavailable('in-flight incrBy', () => {
      const call = cache.incrBy('counter', 1, TTL_MS);
      proxy.cut();
      return call;
    });
    await assertUnavailable('get', () => cache.get('k'));
    await assertUnavailable('set', () => cache.set('k', 'during', { ttlMs: TTL_MS }));
    await assertUnavailable('incrBy', () => cache.incrBy('counter', 1, TTL_MS));
    await assertUnavailable('pushCapped', () => cache.pushCapped('list', 'x', 3, TTL_MS));
    await assertUnavailable('list', () => cache.list('list'));
    await assertUnavailable('del', () => cache.del('k'));
    const started = performance.now();
    assert.equal(await cache.ping(), false);
    assert.ok(performance.now() - started < FAIL_FAST_MS);
  });

  it('works again soon after the link is restored', async () => {
    proxy.restore();
    const deadline = Date.now() + 10_000;
    let value: string | undefined;
    for (;;) {
      try {
        value = await cache.get('k');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
    assert.equal(value, 'before');
    assert.equal(await cache.incrBy('counter', 1, TTL_MS), 2, 'an increment that failed must not land later');
    assert.equal(await cache.ping(), true);
  });
});

describe('RedisCache pointed at a port nobody listens on', () => {
  it('fails fast, answers ping with false and closes promptly', async () => {
    const cache = new RedisCache('redis://127.0.0.1:1');
    try {
      await assertUnavailable('get', () => cache.get('k'));
      await assertUnavailable('set', () => cache.set('k', 'v'));
      await assertUnavailable('incrBy', () => cache.incrBy('counter', 1, TTL_MS));
      assert.equal(await cache.ping(), false);
    } finally {
      const started = performance.now();
      await cache.close();
      assert.ok(performance.now() - started < 1000, 'close must not wait for a Redis that is not there');
    }
  });
});

describe('RedisCache talking to a server that accepts but never answers', () => {
  it('times commands out with PIGEON_ERR_CACHE_UNAVAILABLE instead of hanging', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const cache = new RedisCache(`redis://127.0.0.1:${port}`);
    try {
      await Promise.all([
        assertUnavailable('get', () => cache.get('k')),
        assertUnavailable('incrBy', () => cache.incrBy('counter', 1, TTL_MS)),
      ]);
      assert.equal(await cache.ping(), false);
    } finally {
      await cache.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
