/**
 * The verification's atomic operations (api/src/verify/scripts.ts) against Redis and the memory
 * cache: the Lua and its JavaScript twin must give the same replies and leave the same state. Times
 * are arguments, near the real clock so that Redis's own key expiry agrees with them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  admitAndBeginCheck,
  admitAndCreate,
  approveVerification,
  beginCheck,
  cancelVerification,
  claimTotpStep,
  createVerification,
  readVerification,
  resendVerification,
  revertSend,
  VerifyKeys,
} from '../../api/src/verify/scripts.ts';
import { MAX_CHECKS, MAX_SENDS, RESEND_INTERVALS_MS } from '../../api/src/verify/policy.ts';
import type { Cache } from '../../core/cache/cache.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { newId } from '../../core/ids.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { startRedisCluster } from '../support/redis-cluster.ts';

const TENANT = 'tenant-a';
const TTL = 300_000;

function verifyScriptsContract(name: string, create: () => Cache): void {
  describe(`verification scripts: ${name}`, () => {
    let cache: Cache;
    let numbers = 0;

    before(() => {
      cache = create();
    });
    after(async () => {
      await cache.close();
    });

    /** A fresh number, its keys, and helpers bound to them. */
    function subject() {
      const to = `+1415555${String(2000 + ++numbers)}`;
      const index = VerifyKeys.index(TENANT, to);
      const record = (id: string) => VerifyKeys.record(TENANT, id);
      const t0 = Date.now();
      const createOne = (id: string, opts: { replace?: string; now?: number; digest?: string } = {}) => {
        const now = opts.now ?? t0;
        return cache.runScript(
          createVerification,
          [record(id), index],
          [
            id,
            opts.replace ?? '',
            now + TTL,
            now + TTL + 3_600_000,
            TENANT,
            to,
            'US',
            'en',
            opts.digest ?? 'd1',
            now,
            `m-${id}`,
            '',
            '',
          ],
        );
      };
      const resend = (id: string, now: number, digest: string, messageId = newId()) =>
        cache.runScript(
          resendVerification,
          [record(id), index],
          [
            id,
            now,
            TENANT,
            digest,
            now + TTL,
            now + TTL + 3_600_000,
            messageId,
            MAX_SENDS,
            MAX_CHECKS,
            ...RESEND_INTERVALS_MS,
          ],
        );
      const check = (id: string | undefined, now = t0, tenant = TENANT, expectTo = '') =>
        cache.runScript(
          beginCheck,
          [id ? record(id) : VerifyKeys.noRecord(TENANT)],
          [now, tenant, MAX_CHECKS, expectTo],
        );
      const approve = (id: string, now: number, digest: string) =>
        cache.runScript(approveVerification, [record(id), index], [id, now, digest, 'sms']);
      const read = async (id: string) => {
        const flat = await cache.runScript(readVerification, [record(id)], []);
        const out: Record<string, string> = {};
        for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
        return out;
      };
      return { to, index, record, t0, createOne, resend, check, approve, read };
    }

    it('creates a verification and points the number at it; a second create sees the first', async () => {
      const s = subject();
      const id = newId();
      assert.deepEqual(await s.createOne(id), ['created', '']);
      assert.equal(await cache.get(s.index), id);
      const stored = await s.read(id);
      assert.equal(stored.status, 'pending');
      assert.equal(stored.sends, '1');
      assert.equal(stored.checks, '0');
      assert.equal(stored.digest, 'd1');
      assert.equal(stored.expiresAt, String(s.t0 + TTL));
      assert.deepEqual(await s.createOne(newId()), ['exists', id]);
      const replacement = newId();
      assert.deepEqual(await s.createOne(replacement, { replace: id }), ['created', '']);
      assert.equal(await cache.get(s.index), replacement);
    });

    it('creates within the send limits in one step: a refusal creates nothing, another pending one counts nothing', async () => {
      const s = subject();
      const window = VerifyKeys.window(TENANT, 'send-phone', s.to, newId());
      const createArgs = (id: string) => [
        id,
        '',
        s.t0 + TTL,
        s.t0 + TTL + 3_600_000,
        TENANT,
        s.to,
        'US',
        'en',
        'd1',
        s.t0,
        `m-${id}`,
        '',
        '',
      ];
      // No bucket (rate 0) and one window of two sends a minute, as a verification's limits come.
      const createWithin = (id: string) =>
        cache.runScript(
          admitAndCreate,
          [VerifyKeys.window(TENANT, 'bucket'), window, s.record(id), s.index],
          [s.t0, 0, 0, 1, 2, 60_000, 0, ...createArgs(id)],
        );
      const first = newId();
      assert.deepEqual(await createWithin(first), ['created', '']);
      assert.equal(await cache.get(s.index), first);
      assert.equal((await s.read(first)).status, 'pending');
      assert.equal(await cache.get(window), '1');
      const second = newId();
      assert.deepEqual(await createWithin(second), ['exists', first]);
      assert.equal(await cache.get(window), '1', 'nothing counted for a number with a pending verification');
      assert.deepEqual(await s.read(second), {});
      await cache.del(s.index);
      assert.deepEqual(await createWithin(second), ['created', '']);
      await cache.del(s.index);
      const refused = await createWithin(newId());
      assert.equal(refused[0], 'refused');
      assert.equal(refused[1], 2, 'the window, the second key, refused');
      assert.ok(Number(refused[2]) > 0 && Number(refused[2]) <= 60_000);
      assert.equal(await cache.get(s.index), undefined, 'nothing created on a refusal');
    });

    it('re-sends on the growing schedule, five sends at most, reporting what it replaced', async () => {
      const s = subject();
      const id = newId();
      await s.createOne(id);
      const tooSoon = await s.resend(id, s.t0 + 10_000, 'd2');
      assert.deepEqual(tooSoon, ['too_soon', 20_000]);
      let now = s.t0 + 30_000;
      const second = await s.resend(id, now, 'd2', 'm2');
      assert.deepEqual(second, ['resent', 2, 'd1', s.t0, s.t0 + TTL, `m-${id}`]);
      assert.equal((await s.read(id)).digest, 'd2');
      assert.equal((await s.read(id)).expiresAt, String(now + TTL));
      for (const [i, gap] of [60_000, 120_000, 240_000].entries()) {
        assert.equal((await s.resend(id, now + gap - 1, 'dx'))[0], 'too_soon');
        now += gap;
        const reply = await s.resend(id, now, `d${i + 3}`);
        assert.equal(reply[0], 'resent');
        assert.equal(reply[1], i + 3);
      }
      assert.deepEqual(await s.resend(id, now + 10_000, 'd9'), ['limit', TTL - 10_000]);
    });

    it('undoes a failed send: a re-send gets its old code back, a creation disappears', async () => {
      const s = subject();
      const id = newId();
      await s.createOne(id);
      const reply = await s.resend(id, s.t0 + 30_000, 'd2', 'm2');
      assert.equal(reply[0], 'resent');
      const [, , digest, sentAt, expiresAt, messageId] = reply;
      assert.equal(
        await cache.runScript(
          revertSend,
          [s.record(id), s.index],
          [id, 'other', 'resent', digest, sentAt, expiresAt, messageId, expiresAt],
        ),
        0,
        'only the send that failed is undone',
      );
      assert.equal(
        await cache.runScript(
          revertSend,
          [s.record(id), s.index],
          [id, 'm2', 'resent', digest, sentAt, expiresAt, messageId, expiresAt + 3_600_000],
        ),
        1,
      );
      const restored = await s.read(id);
      assert.deepEqual(
        [restored.digest, restored.sends, restored.sentAt, restored.messageId],
        ['d1', '1', String(s.t0), `m-${id}`],
      );
      assert.equal(await cache.runScript(revertSend, [s.record(id), s.index], [id, `m-${id}`, 'created']), 1);
      assert.deepEqual(await s.read(id), {});
      assert.equal(await cache.get(s.index), undefined);
    });

    it('evaluates exactly five of fifty concurrent checks and refuses the rest', async () => {
      const s = subject();
      const id = newId();
      await s.createOne(id);
      const replies = await Promise.all(Array.from({ length: 50 }, () => s.check(id)));
      const evaluated = replies.filter((r) => r[0] === 'evaluate');
      assert.equal(evaluated.length, MAX_CHECKS);
      assert.deepEqual(evaluated.map((r) => r[2]).sort(), [1, 2, 3, 4, 5]);
      assert.ok(replies.filter((r) => r[0] !== 'evaluate').every((r) => r[0] === 'max_attempts'));
      assert.equal((await s.read(id)).checks, String(MAX_CHECKS));
      assert.equal(await s.approve(id, s.t0, 'd1'), 1, 'the fifth check may still approve');
    });

    it('checks within the check windows in one step: a refusal counts no attempt', async () => {
      const s = subject();
      const id = newId();
      await s.createOne(id);
      const window = VerifyKeys.window(TENANT, 'check-ip', newId());
      // No bucket (rate 0) and one window of two checks a minute, as a check's limits come.
      const checkWithin = (target: string | undefined) =>
        cache.runScript(
          admitAndBeginCheck,
          [
            VerifyKeys.window(TENANT, 'bucket'),
            window,
            target ? s.record(target) : VerifyKeys.noRecord(TENANT),
          ],
          [s.t0, 0, 0, 1, 2, 60_000, 0, s.t0, TENANT, MAX_CHECKS, ''],
        );
      assert.deepEqual(await checkWithin(id), ['evaluate', 'd1', 1, `m-${id}`, 'US', '', '', s.to]);
      assert.deepEqual(
        await checkWithin(undefined),
        ['unknown', '', 0, '', '', '', '', ''],
        'no such verification: the same answer as beginCheck alone',
      );
      assert.equal(await cache.get(window), '2', 'both checks counted, the unknown one too');
      const refused = await checkWithin(id);
      assert.equal(refused[0], 'refused');
      assert.equal(refused[1], 2, 'the window, the second key, refused');
      assert.ok(Number(refused[2]) > 0 && Number(refused[2]) <= 60_000);
      assert.equal((await s.read(id)).checks, '1', 'a refused check counts no attempt');
    });

    it('hands the digest to an evaluation only: unknown, foreign, expired and final ones carry none', async () => {
      const s = subject();
      const id = newId();
      await s.createOne(id);
      assert.deepEqual(await s.check(undefined), ['unknown', '', 0, '', '', '', '', '']);
      assert.deepEqual(await s.check(newId()), ['unknown', '', 0, '', '', '', '', '']);
      assert.deepEqual(await s.check(id, s.t0, 'tenant-b'), ['unknown', '', 0, '', '', '', '', '']);
      assert.deepEqual(await s.check(id, s.t0, TENANT, '+14155550000'), [
        'unknown',
        '',
        0,
        '',
        '',
        '',
        '',
        '',
      ]);
      assert.deepEqual(await s.check(id, s.t0 + TTL), ['expired', '', 0, `m-${id}`, 'US', '', '', s.to]);
      assert.deepEqual(await s.check(id, s.t0, TENANT, s.to), [
        'evaluate',
        'd1',
        1,
        `m-${id}`,
        'US',
        '',
        '',
        s.to,
      ]);
      assert.equal(await s.approve(id, s.t0 + 1, 'd1'), 1);
      assert.deepEqual(await s.check(id), ['approved', '', 1, `m-${id}`, 'US', '', '', s.to]);
    });

    it('approves once, and not with a code a re-send replaced or after expiry', async () => {
      const s = subject();
      const id = newId();
      await s.createOne(id);
      assert.equal(await s.approve(id, s.t0 + TTL, 'd1'), 0, 'expired');
      await s.resend(id, s.t0 + 30_000, 'd2');
      assert.equal(await s.approve(id, s.t0 + 31_000, 'd1'), 0, 'replaced code');
      const approvals = await Promise.all(
        Array.from({ length: 10 }, () => s.approve(id, s.t0 + 31_000, 'd2')),
      );
      assert.equal(approvals.filter((a) => a === 1).length, 1);
      assert.equal(await cache.get(s.index), undefined, 'the number is free for a new verification');
      assert.equal((await s.read(id)).status, 'approved');
      assert.deepEqual(await s.resend(id, s.t0 + 600_000, 'd3'), ['gone']);
    });

    it('cancels a pending verification only, for its own tenant only', async () => {
      const s = subject();
      const id = newId();
      await s.createOne(id);
      const cancel = (tenant: string, now = s.t0) =>
        cache.runScript(cancelVerification, [s.record(id), s.index], [id, now, tenant, MAX_CHECKS]);
      assert.equal(await cancel('tenant-b'), 'unknown');
      assert.equal(await cancel(TENANT, s.t0 + TTL), 'unchanged', 'already expired');
      assert.equal(await cancel(TENANT), 'canceled');
      assert.equal(await cancel(TENANT), 'unchanged');
      assert.equal(await cache.get(s.index), undefined);
      assert.equal((await s.check(id))[0], 'canceled');
      assert.equal(await s.approve(id, s.t0, 'd1'), 0);
    });

    it('claims each TOTP step once and never an older one', async () => {
      const key = `otp:totp:${newId()}`;
      const claim = (step: number) => cache.runScript(claimTotpStep, [key], [step, 60_000]);
      assert.equal(await claim(100), 1);
      assert.equal(await claim(100), 0);
      assert.equal(await claim(99), 0);
      assert.equal(await claim(101), 1);
      const racing = await Promise.all(Array.from({ length: 20 }, () => claim(102)));
      assert.equal(racing.filter((c) => c === 1).length, 1);
    });
  });
}

verifyScriptsContract('MemoryCache', () => new MemoryCache());
verifyScriptsContract(
  'RedisCache',
  () => new RedisCache(TEST_REDIS_URL, { keyPrefix: `pigeon-test:verify-scripts:${uniqueSuffix()}:` }),
);
// A Redis Cluster (test/redis/cluster.sh): the keys of each script share a hash tag, so every
// script runs on one node whichever slot it lands in.
verifyScriptsContract(
  'RedisCache on a Redis Cluster',
  () => new RedisCache(startRedisCluster(), { keyPrefix: `pigeon-test:verify-scripts:${uniqueSuffix()}:` }),
);
