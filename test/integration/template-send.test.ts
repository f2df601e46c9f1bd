/**
 * Sending by template on real Kafka, MariaDB and Redis: a template stored in MariaDB through the
 * API, a message naming it, and the `message.requested` record on the normal lane carrying the
 * rendered, smart-encoded text. (The services downstream see a message like any other.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import mysql from 'mysql2/promise';
import { apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { buildApi } from '../../api/src/app.ts';
import type { Subscription } from '../../core/bus/bus.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { Topics } from '../../core/topics.ts';
import { callOn } from '../support/api-harness.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { waitFor } from '../support/wait.ts';

const run = uniqueSuffix();

describe('a message by template over Kafka, MariaDB and Redis', () => {
  let db: TestDatabase;
  let store: MysqlStore;
  let cache: RedisCache;
  let bus: KafkaBus;
  let lane: Subscription;
  let app: FastifyInstance;
  let call: ReturnType<typeof callOn>;
  const onLane = new Map<string, MessageRequested>();
  const key = generateApiKey();

  before(async () => {
    db = await createTestDatabase();
    store = new MysqlStore(db.url, { connectionLimit: 4 });
    await store.migrate();
    await store.putApiKey(
      apiKeyRecord(key, `tenant-${run}`, ['messages:write', 'templates:write', 'templates:read'], 'app'),
    );
    cache = new RedisCache(TEST_REDIS_URL, { keyPrefix: `pigeon-test:templates:${run}:` });
    bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `pigeon-templates-${run}` });
    // From the lane's end: the shared broker holds other runs' records, which this test never reads.
    lane = await bus.subscribe({
      groupId: `pigeon-templates-${run}`,
      topics: [Topics.sendNormal],
      fromBeginning: false,
      handler: async (batch) => {
        for (const r of batch.records) {
          const event = JSON.parse(r.value) as MessageRequested;
          if (event.tenantId === `tenant-${run}`) onLane.set(event.messageId, event);
        }
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
      publishTimeoutMs: 10_000,
      simulatorEnabled: false,
    });
    call = callOn(app);
  });

  after(async () => {
    await app?.close();
    await lane?.close();
    await bus?.close();
    await cache?.close();
    await store?.close();
    await db?.drop();
  });

  /** Sends until one message is seen on the lane: the subscription started after its join. */
  async function laneIsLive(): Promise<void> {
    await waitFor(
      async () => {
        const probe = await call('POST', '/v1/messages', key, { to: '+14155550100', body: `probe ${run}` });
        assert.equal(probe.statusCode, 202, probe.body);
        await new Promise((r) => setTimeout(r, 1000));
        return onLane.has(probe.json<{ id: string }>().id);
      },
      120_000,
      'a probe message on the normal lane',
    );
  }

  test('the template is stored in MariaDB and the lane carries the rendered, smart-encoded text', async () => {
    const created = await call('POST', '/v1/templates', key, {
      name: 'order shipped',
      class: 'transactional',
      variants: [
        { locale: 'en', body: 'Hi {{name}}, it’s on its way — order {{order}} ships today.' },
        { locale: 'es', body: 'Hola {{name}}, tu pedido {{order}} ya está en camino.' },
      ],
    });
    assert.equal(created.statusCode, 201, created.body);
    const templateId = created.json<{ id: string }>().id;
    const conn = await mysql.createConnection({ uri: db.url });
    try {
      const [rows] = await conn.query('SELECT name, class, variables FROM message_templates WHERE id = ?', [
        templateId,
      ]);
      assert.deepEqual(rows, [{ name: 'order shipped', class: 'transactional', variables: 'name,order' }]);
    } finally {
      await conn.end();
    }

    await laneIsLive();
    const accepted = await call('POST', '/v1/messages', key, {
      to: '+14155550123',
      template: templateId,
      variables: { name: 'Ana', order: 88231 },
      locale: 'en-GB',
      smartEncoding: true,
    });
    assert.equal(accepted.statusCode, 202, accepted.body);
    const answer = accepted.json<{
      id: string;
      encoding: string;
      segments: number;
      replaced: { from: string }[];
    }>();
    assert.deepEqual(
      [answer.encoding, answer.segments, answer.replaced.map((r) => r.from)],
      ['GSM-7', 1, ['’', '—']],
    );

    await waitFor(() => onLane.has(answer.id), 60_000, 'the templated message on the normal lane');
    const event = onLane.get(answer.id)!;
    assert.equal(event.body, "Hi Ana, it's on its way - order 88231 ships today.");
    assert.deepEqual([event.class, event.encoding, event.segments], ['transactional', 'GSM-7', 1]);

    const missing = await call('POST', '/v1/messages', key, {
      to: '+14155550123',
      template: templateId,
      variables: { name: 'Ana' },
    });
    assert.equal(missing.statusCode, 422);
    assert.equal(missing.json<{ code: string }>().code, 'PIGEON_ERR_TEMPLATE_VARIABLES');
  });
});
