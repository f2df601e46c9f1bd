/**
 * PIGEON_REDIS_KEY_PREFIX: two deployments sharing one Redis, each under its own prefix, never see
 * each other's keys — neither plain commands nor the atomic scripts (their KEYS are prefixed by
 * ioredis; none of them builds a key from ARGV).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { admitSend } from '../../api/src/send-policy/scripts.ts';
import { SendKeys } from '../../api/src/send-policy/plan.ts';
import { createVerification, readVerification, VerifyKeys } from '../../api/src/verify/scripts.ts';
import { loadConfig } from '../../core/config.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { newId } from '../../core/ids.ts';
import { createCache } from '../../core/runtime.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';

const run = uniqueSuffix();
/** Two deployments as their services build their cache: from the environment. */
const deploymentA = createCache(
  loadConfig({ REDIS_URL: TEST_REDIS_URL, PIGEON_REDIS_KEY_PREFIX: `pigeon-test:${run}:a:` }),
);
const deploymentB = createCache(
  loadConfig({ REDIS_URL: TEST_REDIS_URL, PIGEON_REDIS_KEY_PREFIX: `pigeon-test:${run}:b:` }),
);
/** The shared Redis seen without a prefix. */
const bare = new RedisCache(TEST_REDIS_URL);

after(async () => {
  await Promise.all([deploymentA.close(), deploymentB.close(), bare.close()]);
});

describe('Redis key prefix', () => {
  it('keeps the same verification id apart under two prefixes', async () => {
    const id = newId();
    const now = Date.now();
    const create = (cache: typeof deploymentA, tenant: string, digest: string) =>
      cache.runScript(
        createVerification,
        [VerifyKeys.record(tenant, id), VerifyKeys.index(tenant, '+14155550100')],
        [
          id,
          '',
          now + 300_000,
          now + 600_000,
          tenant,
          '+14155550100',
          'US',
          'en',
          digest,
          now,
          `m-${id}`,
          '',
          '',
        ],
      );
    assert.deepEqual(await create(deploymentA, 'tenant-a', 'digest-a'), ['created', '']);
    // The same id under another prefix is a new verification, not a conflict with A's.
    assert.deepEqual(await create(deploymentB, 'tenant-a', 'digest-b'), ['created', '']);
    const readA = await deploymentA.runScript(readVerification, [VerifyKeys.record('tenant-a', id)], []);
    const readB = await deploymentB.runScript(readVerification, [VerifyKeys.record('tenant-a', id)], []);
    const field = (flat: unknown, name: string) => {
      const list = flat as string[];
      return list[list.indexOf(name) + 1];
    };
    assert.equal(field(readA, 'tenant'), 'tenant-a');
    assert.equal(field(readA, 'digest'), 'digest-a');
    assert.equal(field(readB, 'tenant'), 'tenant-a');
    assert.equal(field(readB, 'digest'), 'digest-b');
    assert.equal(await bare.get(`pigeon-test:${run}:a:otp:p:{tenant-a}:+14155550100`), id, 'stored under A');
    assert.equal(await bare.get(`otp:p:{tenant-a}:+14155550100`), undefined, 'nothing unprefixed');
  });

  it('gives each prefix its own rate-limit window for the same key', async () => {
    const bucket = SendKeys.bucket(run);
    const window = SendKeys.recipient('hour', run, '+14155550100');
    const admit = (cache: typeof deploymentA) =>
      cache.runScript(admitSend, [bucket, window], [Date.now(), 0, 0, 1, 2, 3_600_000, 0]);
    assert.equal((await admit(deploymentA))[0], 0);
    assert.equal((await admit(deploymentA))[0], 0);
    assert.equal((await admit(deploymentA))[0], 2, 'A used up its two');
    assert.equal((await admit(deploymentB))[0], 0, "B's window is its own");
    assert.equal(await deploymentA.get(window), '3');
    assert.equal(await deploymentB.get(window), '1');
  });
});
