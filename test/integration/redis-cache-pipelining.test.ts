/**
 * RedisCache sends the commands of one event-loop turn as one write (ioredis auto-pipelining).
 * These run on the real Redis: scripts first used while other commands wait in a pipeline, the
 * key prefix on a script's keys, and many callers' commands in one turn each getting their own
 * reply.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { CacheScript } from '../../core/cache/cache.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';

/** A script no Redis has seen yet (its source is unique to this run), so its first call gets NOSCRIPT. */
function freshScript(tag: string): CacheScript<string> {
  return {
    name: `pipelining-${tag}-${uniqueSuffix()}`,
    lua: `-- ${tag} ${uniqueSuffix()}\nredis.call('SET', KEYS[1], ARGV[1]) return ARGV[1]`,
    memory(redis, keys, args) {
      redis.set(keys[0]!, args[0]!);
      return args[0]!;
    },
  };
}

describe('RedisCache pipelining', () => {
  const prefix = `pigeon-test:pipelining:${uniqueSuffix()}:`;
  const cache = new RedisCache(TEST_REDIS_URL, { keyPrefix: prefix });
  const raw = new Redis(TEST_REDIS_URL);
  after(async () => {
    await cache.close();
    raw.disconnect();
  });

  it('runs a script first used while other commands wait in the same write', async () => {
    await cache.set('before', 'x');
    const script = freshScript('first-use');
    // All issued in one turn: the reads open a pipeline before the script is first seen.
    const [read, ran, again, other] = await Promise.all([
      cache.get('before'),
      cache.runScript(script, ['k1'], ['v1']),
      cache.runScript(script, ['k2'], ['v2']),
      cache.runScript(freshScript('second'), ['k3'], ['v3']),
    ]);
    assert.deepEqual([read, ran, again, other], ['x', 'v1', 'v2', 'v3']);
    assert.deepEqual(await Promise.all(['k1', 'k2', 'k3'].map((k) => cache.get(k))), ['v1', 'v2', 'v3']);
  });

  it("prefixes a script's keys as it prefixes every other command's", async () => {
    await cache.runScript(freshScript('prefix'), ['scripted'], ['value']);
    assert.equal(await raw.get(`${prefix}scripted`), 'value');
    assert.equal(await raw.get('scripted'), null);
  });

  it("gives each of many callers in one turn its own command's reply", async () => {
    const script = freshScript('many');
    const writes = Array.from({ length: 500 }, (_, i) =>
      i % 2 === 0
        ? cache.runScript(script, [`many:${i}`], [String(i)])
        : cache.set(`many:${i}`, String(i)).then(() => String(i)),
    );
    assert.deepEqual(
      await Promise.all(writes),
      Array.from({ length: 500 }, (_, i) => String(i)),
    );
    const reads = await Promise.all(Array.from({ length: 500 }, (_, i) => cache.get(`many:${i}`)));
    assert.deepEqual(
      reads,
      Array.from({ length: 500 }, (_, i) => String(i)),
    );
  });

  it('still refuses two different scripts under one name', async () => {
    const script = freshScript('named');
    await cache.runScript(script, ['named'], ['1']);
    await assert.rejects(
      cache.runScript({ ...script, lua: `${script.lua} -- changed` }, ['named'], ['2']),
      /two different cache scripts/,
    );
  });
});
