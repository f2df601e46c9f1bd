/**
 * Quiet hours, frequency caps and dedup end to end on the real Kafka, MariaDB and Redis: an api
 * (two processes' worth: two apps over the same Redis), a supplier bridge and a persister, in this
 * process so their consumer groups start at the end of the shared topics, with the simulated
 * provider taking every message. Every count is read from MariaDB, where the persister writes what
 * the bridge did.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import mysql from 'mysql2/promise';
import { Registry } from 'prom-client';
import { buildApi } from '../../api/src/app.ts';
import { apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { sendPolicySettings } from '../../api/src/send-policy/limits.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import { TenantMessagingPolicyCache } from '../../core/messaging-policy.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { type PersisterHandle, startPersister } from '../../persister/src/persister.ts';
import { SimulatorProvider } from '../../providers/simulator.ts';
import { type RunningBridge, startBridge } from '../../supplier-bridge/src/bridge.ts';
import type { Dispatcher } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import { QuietHoursGate } from '../../supplier-bridge/src/dispatch/quiet-hours.ts';
import { fixedDispatcher } from '../support/fixed-dispatcher.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { sleep, waitFor } from '../support/wait.ts';

const RUN = uniqueSuffix();
const TENANT = `e2e-quiet-${RUN}`;
const API_KEY = generateApiKey();
const MINUTE_MS = 60_000;
/**
 * How long the bridge reuses a tenant's messaging policy here (TENANT_MESSAGING_POLICY_TTL_MS in
 * a deployment): a policy PUT reaches its quiet hours within this. The two apps share one store,
 * so one cache, which the PUT updates at once.
 */
const BRIDGE_POLICY_TTL_MS = 1_000;

describe('quiet hours, frequency caps and dedup over Kafka, MariaDB and Redis', () => {
  let db: TestDatabase;
  let store: MysqlStore;
  let bus: KafkaBus;
  let cache: RedisCache;
  let apps: FastifyInstance[];
  let bridge: RunningBridge;
  let dispatcher: Dispatcher;
  let persister: PersisterHandle;
  let sim: SimulatorProvider;
  let conn: mysql.Connection;
  const bridgeRegistry = new Registry();
  let sent = 0;

  /** Calls the api, alternating between the two apps as a load balancer would. */
  const api = async (method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) => {
    const response = await apps[sent++ % apps.length]!.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return response;
  };
  const putPolicy = async (policy: Record<string, unknown>) => {
    const response = await api('PUT', `/v1/admin/tenants/${TENANT}/messaging-policy`, policy);
    assert.equal(response.statusCode, 200, response.body);
    // The bridge may hold the previous policy this long.
    await sleep(BRIDGE_POLICY_TTL_MS + 1_000);
  };
  const count = async (sql: string, params: unknown[]): Promise<number> => {
    const [rows] = await conn.query(sql, params);
    return Number((rows as Array<{ n: number }>)[0]!.n);
  };
  const events = (type: string, messageIds: string[]) =>
    count('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?) AND type = ?', [messageIds, type]);
  // A number of its own per run and test: Redis, which keeps the caps, outlives runs.
  const numberFor = (i: number) =>
    `+1415557${String(1000 + ((Number.parseInt(RUN.slice(-6), 36) + i * 7919) % 9000)).padStart(4, '0')}`;

  before(async () => {
    const logger = createLogger({ level: process.env.PIGEON_TEST_LOG ?? 'silent' });
    db = await createTestDatabase();
    store = new MysqlStore(db.url, { connectionLimit: 4 });
    await store.migrate();
    await store.putApiKey(apiKeyRecord(API_KEY, TENANT, ['messages:write', 'messages:read', 'admin'], 'e2e'));
    cache = new RedisCache(TEST_REDIS_URL);
    bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `quiet-${RUN}`, logger });
    await bus.ensureTopics(topicSpecs(6));
    sim = new SimulatorProvider(`sim-${RUN}`, {
      secret: 'quiet-hours-e2e',
      outbox: cache,
      logger,
      faults: [{ fault: 'silent' }],
    });
    dispatcher = fixedDispatcher(
      [{ adapter: sim, weight: 1, definition: { name: sim.name, type: 'simulator' } }],
      { cache, logger, registry: bridgeRegistry },
      {
        quietHours: new QuietHoursGate(
          new TenantMessagingPolicyCache(store, Date.now, BRIDGE_POLICY_TTL_MS),
          bridgeRegistry,
        ),
      },
    );
    bridge = await startBridge({
      bus,
      dispatcher,
      logger,
      registry: bridgeRegistry,
      concurrency: 32,
      groupId: `bridge-${RUN}`,
      fromBeginning: false,
    });
    persister = await startPersister({
      bus,
      store,
      logger,
      registry: new Registry(),
      groupId: `persister-${RUN}`,
      fromBeginning: false,
    });
    // Two api processes of one deployment: the same settings, so the same dedup key.
    const settings = sendPolicySettings(loadConfig({ PIGEON_OTP_KEY: randomBytes(32).toString('hex') }));
    apps = [];
    for (let i = 0; i < 2; i++) {
      apps.push(
        await buildApi({
          logger,
          bus,
          store,
          cache,
          registry: new Registry(),
          readiness: new Readiness(),
          providers: new Map(),
          publishTimeoutMs: 5_000,
          simulatorEnabled: false,
          sendPolicy: { settings },
        }),
      );
    }
    conn = await mysql.createConnection({ uri: db.url });
    // The groups start at the end of their topics once they have joined, and a partition that has
    // no commit yet starts there again after a rebalance: probe until messages of both lanes, to
    // enough numbers to reach every partition, have gone all the way through.
    await waitFor(
      async () => {
        const probes = await Promise.all(
          Array.from({ length: 24 }, async (_, i) => {
            const probe = await api('POST', '/v1/messages', {
              to: numberFor(100 + i),
              body: `probe ${i} ${Date.now()}`,
              ...(i % 2 === 0 ? { class: 'marketing' } : {}),
            });
            return probe.json<{ id: string }>().id;
          }),
        );
        for (let i = 0; i < 50; i++) {
          if ((await events('message.submitted', probes)) === probes.length) return true;
          await sleep(200);
        }
        return false;
      },
      120_000,
      'bridge and persister listening on every partition',
    );
  });

  after(async () => {
    for (const app of apps ?? []) await app.close();
    await bridge?.close();
    await persister?.close();
    await dispatcher?.close();
    await sim?.close();
    await bus?.close();
    await cache?.close();
    await conn?.end();
    await store?.close();
    await db?.drop();
  });

  test('20 identical sends at once are one message in MariaDB, the other 19 answered with its id', async () => {
    const to = numberFor(1);
    const body = `Your order ${randomBytes(4).toString('hex')} has shipped`;
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => api('POST', '/v1/messages', { to, body })),
    );
    const answers = responses.map((r) => {
      assert.equal(r.statusCode, 202, r.body);
      return r.json<{ id: string; duplicate?: boolean }>();
    });
    assert.equal(new Set(answers.map((a) => a.id)).size, 1);
    assert.equal(answers.filter((a) => a.duplicate === true).length, 19);
    const rows = 'SELECT COUNT(*) n FROM messages WHERE tenant_id = ? AND body = ?';
    await waitFor(
      async () => (await count(`${rows} AND status IN ('submitted', 'delivered')`, [TENANT, body])) === 1,
      60_000,
      'the one message submitted',
    );
    await sleep(1_000);
    assert.equal(await count(rows, [TENANT, body]), 1);
    const [history] = await conn.query('SELECT type FROM message_events WHERE message_id = ?', [
      answers[0]!.id,
    ]);
    assert.deepEqual((history as Array<{ type: string }>).map((e) => e.type).sort(), [
      'message.requested',
      'message.submitted',
    ]);
  });

  test('a marketing cap of three a day holds when eight sends to one number arrive at once', async () => {
    await putPolicy({ marketingPerDay: 3, marketingPerWeek: 20 });
    const to = numberFor(2);
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api('POST', '/v1/messages', { to, class: 'marketing', body: `Offer ${i} ${TENANT}` }),
      ),
    );
    assert.equal(responses.filter((r) => r.statusCode === 202).length, 3);
    const refused = responses.filter((r) => r.statusCode === 429);
    assert.equal(refused.length, 5);
    for (const r of refused) {
      assert.equal(r.json<{ code: string }>().code, 'PIGEON_ERR_FREQUENCY_CAPPED');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    const marketing =
      'SELECT COUNT(*) n FROM messages WHERE tenant_id = ? AND recipient = ? AND message_class = ?';
    await waitFor(
      async () =>
        (await count(`${marketing} AND status IN ('submitted', 'delivered')`, [TENANT, to, 'marketing'])) ===
        3,
      60_000,
      'three marketing messages sent',
    );
    await sleep(1_000);
    assert.equal(await count(marketing, [TENANT, to, 'marketing']), 3);
  });

  test('marketing is held through the quiet window and released at its end; transactional goes at once', async () => {
    // A window around now in Los Angeles, ending at the first minute boundary that leaves the window
    // more than 15 s once the policy is in place: the local minute boundaries of a whole-hour
    // offset are UTC's, so the release instant is known here. The sends, their holds and the
    // checks below take a few seconds; a longer margin only makes the test wait longer for the
    // boundary (up to a minute more than the margin).
    const hhmm = (at: number) =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'America/Los_Angeles',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(at);
    const now = Date.now();
    // putPolicy waits BRIDGE_POLICY_TTL_MS + 1 s; the 15 s asserted below, and 6 s to spare.
    const inPlace = now + BRIDGE_POLICY_TTL_MS + 1_000;
    const release = Math.ceil((inPlace + 21_000) / MINUTE_MS) * MINUTE_MS;
    await putPolicy({ quietHours: { start: hhmm(now - MINUTE_MS), end: hhmm(release) } });
    assert.ok(Date.now() < release - 15_000, 'the window still has 15 s to run');

    const marketing = Array.from({ length: 5 }, (_, i) => ({
      to: numberFor(10 + i),
      class: 'marketing',
      body: `Weekend sale ${i} ${TENANT}`,
    }));
    const transactional = Array.from({ length: 3 }, (_, i) => ({
      to: numberFor(20 + i),
      body: `Your code of conduct ${i} ${TENANT}`,
    }));
    const ids = async (sends: object[]) =>
      Promise.all(
        sends.map(async (send) => {
          const response = await api('POST', '/v1/messages', send);
          assert.equal(response.statusCode, 202, response.body);
          return response.json<{ id: string }>().id;
        }),
      );
    const heldIds = await ids(marketing);
    const goIds = await ids(transactional);

    await waitFor(async () => (await events('message.submitted', goIds)) === 3, 60_000, 'transactional sent');
    await waitFor(async () => (await events('message.held', heldIds)) === 5, 60_000, 'marketing held');
    assert.ok(Date.now() < release, 'still inside the window');
    assert.equal(await events('message.submitted', heldIds), 0, 'nothing held went out in the window');
    const view = (await api('GET', `/v1/messages/${heldIds[0]}`)).json<{
      status: string;
      notBefore: string | null;
    }>();
    assert.equal(view.status, 'queued');
    assert.equal(view.notBefore, new Date(release).toISOString());

    await waitFor(
      async () => (await events('message.submitted', heldIds)) === 5,
      release - Date.now() + 90_000,
      'marketing released',
    );
    await sleep(1_000);
    // Exactly one hold and one submission per message, and none before the window's end.
    assert.equal(await events('message.held', heldIds), 5);
    assert.equal(await events('message.submitted', heldIds), 5);
    assert.equal(
      await count(
        'SELECT COUNT(*) n FROM message_events WHERE message_id IN (?) AND type = ? AND occurred_at < ?',
        [heldIds, 'message.submitted', release],
      ),
      0,
    );
    const quietHours = async (result: string) =>
      (await bridgeRegistry.getSingleMetric('pigeon_bridge_quiet_hours_total')!.get()).values.find(
        (v) => v.labels.result === result,
      )?.value;
    assert.equal(await quietHours('held'), 5);
    assert.equal(await quietHours('released'), 5);
    const released = (await api('GET', `/v1/messages/${heldIds[0]}`)).json<{ notBefore: string | null }>();
    assert.equal(released.notBefore, null);
  });
});
