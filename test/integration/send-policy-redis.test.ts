/**
 * The send policy on real Redis (the Lua side of api/src/send-policy/scripts.ts) through the HTTP
 * API: fifty concurrent sends to one number against a cap of five put exactly five on the bus, and
 * a tenant's bucket holds its burst however many sends arrive at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { buildApi } from '../../api/src/app.ts';
import type { Subscription } from '../../core/bus/bus.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import type { TenantSendLimits } from '../../core/store/kinds/send-limits.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { Topics } from '../../core/topics.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { sleep } from '../support/wait.ts';

const UNSET: TenantSendLimits = {
  ratePerSecond: null,
  burst: null,
  perRecipientHour: null,
  perRecipientDay: null,
  dailySpendCap: null,
  monthlySpendCap: null,
  classes: {},
  updatedAt: 0,
};

describe('send policy on Redis', () => {
  const bus = new MemoryBus();
  const delivered: MessageRequested[] = [];
  const keys = new Map<string, string>();
  let subscription: Subscription;
  let cache: RedisCache;
  let store: SqliteStore;
  let app: FastifyInstance;

  before(async () => {
    cache = new RedisCache(TEST_REDIS_URL, { keyPrefix: `pigeon-test:send-policy-http:${uniqueSuffix()}:` });
    store = new SqliteStore(':memory:');
    await store.migrate();
    for (const [tenantId, limits] of [
      ['tenant-cap', { ...UNSET, perRecipientHour: 5 }],
      ['tenant-burst', { ...UNSET, ratePerSecond: 1, burst: 5 }],
    ] as const) {
      const key = generateApiKey();
      keys.set(tenantId, key);
      await store.putApiKey(apiKeyRecord(key, tenantId, ['messages:write'], 'app'));
      await store.putTenantSendLimits(tenantId, limits);
    }
    await bus.ensureTopics(topicSpecs(1));
    subscription = await bus.subscribe({
      groupId: 'provider',
      topics: [Topics.sendNormal],
      handler: async (batch) => {
        for (const r of batch.records) delivered.push(JSON.parse(r.value) as MessageRequested);
      },
    });
    app = await buildApi({
      logger: createLogger({ level: 'silent' }),
      bus,
      store,
      cache,
      registry: createRegistry('api'),
      readiness: new Readiness(),
      providers: new Map(),
      publishTimeoutMs: 2000,
      simulatorEnabled: false,
    });
  });

  after(async () => {
    await subscription.close();
    await app.close();
    await cache.close();
    await bus.close();
    await store.close();
  });

  // Each send its own text: identical ones within the dedup window would be one message.
  let sent = 0;
  const send = (tenantId: string, to: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { authorization: `Bearer ${keys.get(tenantId)!}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ to, body: `hello ${++sent}` }),
    });

  test('fifty concurrent sends to one number against a cap of five: exactly five reach the bus', async () => {
    const responses = await Promise.all(Array.from({ length: 50 }, () => send('tenant-cap', '+14155550123')));
    assert.equal(responses.filter((r) => r.statusCode === 202).length, 5);
    const refused = responses.filter((r) => r.statusCode === 429);
    assert.equal(refused.length, 45);
    for (const r of refused) {
      assert.equal(r.json<{ code: string }>().code, 'PIGEON_ERR_RECIPIENT_CAP');
      assert.ok(Number(r.headers['retry-after']) > 3_500);
    }
    await sleep(200);
    assert.equal(delivered.filter((m) => m.tenantId === 'tenant-cap').length, 5);
  });

  test("fifty concurrent sends to fifty numbers against a burst of five: the bucket's five, and one per second after", async () => {
    const started = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => send('tenant-burst', `+1415555${String(2000 + i)}`)),
    );
    const accepted = responses.filter((r) => r.statusCode === 202).length;
    // One token comes back a second: a slow machine may see one more in the time the fifty take.
    const refill = Math.floor((Date.now() - started) / 1000);
    assert.ok(accepted >= 5 && accepted <= 5 + refill, `${accepted} accepted in ${Date.now() - started} ms`);
    const refused = responses.find((r) => r.statusCode === 429)!;
    assert.equal(refused.json<{ code: string }>().code, 'PIGEON_ERR_RATE_LIMITED');
    assert.equal(refused.headers['retry-after'], '1');
  });
});
