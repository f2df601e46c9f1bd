/**
 * Verifications on real Redis (the Lua side of api/src/verify/scripts.ts) through the HTTP API:
 * concurrent brute force is cut at five evaluated checks; a check cut off by its api's death, at
 * either point between its two scripts, leaves the code approved once at most; and when Redis is
 * unreachable every verification call fails closed with 503 — nothing is sent, nothing approved. Redis is reached
 * through a TCP proxy the test cuts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ALL_SCOPES, apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { buildApi } from '../../api/src/app.ts';
import { MAX_CHECKS } from '../../api/src/verify/policy.ts';
import { approveVerification, beginCheck, VerifyKeys } from '../../api/src/verify/scripts.ts';
import { verificationSettings } from '../../api/src/verify/settings.ts';
import type { Subscription } from '../../core/bus/bus.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { Topics } from '../../core/topics.ts';
import { decodeVerificationEvent, type VerificationEvent } from '../../core/verification.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { sleep, waitFor } from '../support/wait.ts';

describe('verifications on Redis', () => {
  const redis = new URL(TEST_REDIS_URL);
  const key = generateApiKey();
  const bus = new MemoryBus();
  const messages: MessageRequested[] = [];
  const audit: VerificationEvent[] = [];
  const subscriptions: Subscription[] = [];
  let proxy: TcpProxy;
  let cache: RedisCache;
  let store: SqliteStore;
  let app: FastifyInstance;
  let numbers = 0;

  const post = (url: string, payload: unknown) =>
    app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
  const fresh = () => `+1415${String(300 + ++numbers)}0123`;
  async function codeFor(to: string): Promise<string> {
    await waitFor(() => messages.some((m) => m.to === to), 2000, `message to ${to}`);
    return /(\d{6})/.exec(messages.find((m) => m.to === to)!.body)![1]!;
  }

  before(async () => {
    proxy = await startTcpProxy({ targetHost: redis.hostname, targetPort: Number(redis.port || 6379) });
    cache = new RedisCache(`redis://127.0.0.1:${proxy.port}`, {
      keyPrefix: `pigeon-test:otp:${uniqueSuffix()}:`,
    });
    store = new SqliteStore(':memory:');
    await store.migrate();
    await store.putApiKey(apiKeyRecord(key, 'tenant-a', ALL_SCOPES, 'test'));
    await bus.ensureTopics(topicSpecs(1));
    subscriptions.push(
      await bus.subscribe({
        groupId: 'phone',
        topics: [Topics.sendHigh],
        handler: async (batch) => {
          for (const r of batch.records) messages.push(JSON.parse(r.value) as MessageRequested);
        },
      }),
      await bus.subscribe({
        groupId: 'auditor',
        topics: [Topics.otpEvents],
        handler: async (batch) => {
          for (const r of batch.records) audit.push(decodeVerificationEvent(r.value)!);
        },
      }),
    );
    app = await buildApi({
      logger: createLogger({ level: 'silent' }),
      bus,
      store,
      cache,
      registry: createRegistry('api'),
      readiness: new Readiness().add('cache', () => cache.ping()),
      providers: new Map(),
      publishTimeoutMs: 1000,
      simulatorEnabled: false,
      verification: verificationSettings(
        loadConfig({}),
        { otpKey: randomBytes(32), factorKey: randomBytes(32), bodyKey: undefined },
        'memory',
      ),
    });
  });

  after(async () => {
    for (const s of subscriptions) await s.close();
    await app.close();
    await cache.close();
    await proxy.close();
    await bus.close();
    await store.close();
  });

  test('fifty concurrent wrong checks: five are evaluated, and the right code then fails', async () => {
    const to = fresh();
    const started = await post('/v1/verifications', { to, channel: 'sms' });
    assert.equal(started.statusCode, 201, started.body);
    const { id } = started.json<{ id: string }>();
    const code = await codeFor(to);
    const wrong = code === '000000' ? '000001' : '000000';
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => post(`/v1/verifications/${id}/check`, { code: wrong })),
    );
    const statuses = answers.map((a) => a.json<{ status: string }>().status);
    assert.equal(statuses.filter((s) => s === 'pending').length, 4);
    assert.equal(statuses.filter((s) => s === 'max_attempts').length, 46);
    const right = await post(`/v1/verifications/${id}/check`, { code });
    assert.equal(right.json<{ status: string }>().status, 'max_attempts');
    await sleep(50);
    const evaluated = audit.filter(
      (e) => e.verificationId === id && e.type === 'verification.checked' && e.result === 'wrong',
    );
    assert.equal(evaluated.length, 5);
  });

  test('the right code approves exactly once, even when sent ten times at once', async () => {
    const to = fresh();
    const { id } = (await post('/v1/verifications', { to, channel: 'sms' })).json<{ id: string }>();
    const code = await codeFor(to);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => post(`/v1/verifications/${id}/check`, { code })),
    );
    const statuses = answers.map((a) => a.json<{ status: string }>().status);
    assert.equal(statuses.filter((s) => s === 'approved').length, 1);
    // The rest lost the race: after the approval they read as a replay (pending); before it, the
    // sixth and later found the five evaluations taken (max_attempts).
    assert.ok(
      statuses.every((s) => ['approved', 'pending', 'max_attempts'].includes(s)),
      statuses.join(),
    );
  });

  /** The first half of a check as the check route runs it (admitAndBeginCheck's second part). */
  const beginCheckOf = (id: string) =>
    cache.runScript(
      beginCheck,
      [VerifyKeys.record('tenant-a', id)],
      [Date.now(), 'tenant-a', MAX_CHECKS, ''],
    );

  test('a check whose api died between counting the attempt and approving leaves the code approvable exactly once', async () => {
    const to = fresh();
    const { id } = (await post('/v1/verifications', { to, channel: 'sms' })).json<{ id: string }>();
    const code = await codeFor(to);
    // What a right check killed after its first half leaves: the attempt counted, no approval.
    const [first] = await beginCheckOf(id);
    assert.equal(first, 'evaluate');
    // Its client got no answer and checks again: the one approval.
    const again = await post(`/v1/verifications/${id}/check`, { code });
    assert.equal(again.json<{ status: string }>().status, 'approved');
    const third = await post(`/v1/verifications/${id}/check`, { code });
    assert.equal(third.json<{ status: string }>().status, 'pending', 'approved is final');
  });

  test('a check whose api died after approving, before answering, leaves the code approved: the next right check is refused', async () => {
    const to = fresh();
    const { id } = (await post('/v1/verifications', { to, channel: 'sms' })).json<{ id: string }>();
    const code = await codeFor(to);
    // Both halves of a right check ran; its answer was lost with its api.
    const [found, digest] = await beginCheckOf(id);
    assert.equal(found, 'evaluate');
    const approved = await cache.runScript(
      approveVerification,
      [VerifyKeys.record('tenant-a', id), VerifyKeys.index('tenant-a', to)],
      [id, Date.now(), digest, 'sms'],
    );
    assert.equal(approved, 1);
    const again = await post(`/v1/verifications/${id}/check`, { code });
    assert.equal(again.json<{ status: string }>().status, 'pending');
    const view = await app.inject({
      method: 'GET',
      url: `/v1/verifications/${id}`,
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(view.json<{ status: string }>().status, 'approved');
  });

  test('Redis unreachable: every verification call answers 503, nothing is sent or approved', async () => {
    const to = fresh();
    const { id } = (await post('/v1/verifications', { to, channel: 'sms' })).json<{ id: string }>();
    const code = await codeFor(to);
    const sentBefore = messages.length;
    proxy.cut();
    try {
      const calls = [
        () => post('/v1/verifications', { to: fresh(), channel: 'sms' }),
        () => post(`/v1/verifications/${id}/check`, { code }),
        () => post('/v1/verification-checks', { to, code }),
        () => post(`/v1/verifications/${id}/cancel`, {}),
        () =>
          app.inject({
            method: 'GET',
            url: `/v1/verifications/${id}`,
            headers: { authorization: `Bearer ${key}` },
          }),
      ];
      for (const call of calls) {
        const began = Date.now();
        const response = await call();
        assert.equal(response.statusCode, 503, response.body);
        assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_CACHE_UNAVAILABLE');
        assert.ok(response.headers['content-type']?.toString().startsWith('application/problem+json'));
        assert.ok(Date.now() - began < 3000, 'fails fast');
      }
      await sleep(100);
      assert.equal(messages.length, sentBefore, 'no code was sent while Redis was away');
    } finally {
      proxy.restore();
    }
    // The code that was never checked is still good once Redis is back: the outage approved nothing.
    await waitFor(() => cache.ping(), 10_000, 'Redis back');
    const answer = await post(`/v1/verifications/${id}/check`, { code });
    assert.equal(answer.json<{ status: string }>().status, 'approved');
  });
});
