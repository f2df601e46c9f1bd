/**
 * The campaign runner end to end on the real Kafka, MariaDB and Redis: api processes' worth of
 * runners (two apps over one store, as two replicas), a supplier bridge whose simulated provider
 * posts signed delivery receipts back to a listening api, and a persister, in this process so
 * their consumer groups start at the end of the shared topics. Campaigns are written to the store
 * as the /v1/campaigns calls leave them; every count is read from MariaDB, and every send is
 * counted at the simulator.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import mysql from 'mysql2/promise';
import { Registry } from 'prom-client';
import { buildApi } from '../../api/src/app.ts';
import { apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { campaignMessageId } from '../../api/src/campaigns/message-id.ts';
import type { CampaignRunnerSettings } from '../../api/src/campaigns/runner.ts';
import { instantOf } from '../../api/src/campaigns/schedule.ts';
import { sendPolicySettings } from '../../api/src/send-policy/limits.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import { topicSpecs } from '../../core/runtime.ts';
import type { CampaignRecord } from '../../core/store/kinds/campaigns.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { type PersisterHandle, startPersister } from '../../persister/src/persister.ts';
import { SimulatorProvider } from '../../providers/simulator.ts';
import { type RunningBridge, startBridge } from '../../supplier-bridge/src/bridge.ts';
import type { Dispatcher } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import { storedCampaign } from '../support/campaigns.ts';
import { fixedDispatcher } from '../support/fixed-dispatcher.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { freePort } from '../support/ports.ts';
import { sleep, waitFor } from '../support/wait.ts';

const RUN = uniqueSuffix();
const API_KEY = generateApiKey();
const WEBHOOK = 'https://hooks.example.com/pigeon';
const tenant = (name: string) => `e2e-camp-${name}-${RUN}`;
const SETTINGS: Partial<CampaignRunnerSettings> = {
  tickMs: 50,
  leaseTtlMs: 2_000,
  chunkRows: 200,
  maxInFlight: 400,
  quantum: 50,
  countsEveryMs: 100,
};
// Numbers of their own per run and campaign: Redis, which keeps the per-number caps, outlives runs.
let numberBase = (Number.parseInt(RUN.slice(-5), 36) % 500) * 10_000;
const numbers = (rows: number): ((row: number) => string) => {
  const base = numberBase;
  numberBase = (numberBase + rows) % 5_000_000;
  return (row) => `+1415${String(2_000_000 + ((base + row) % 5_000_000)).padStart(7, '0')}`;
};

describe('campaign runner over Kafka, MariaDB and Redis', () => {
  let db: TestDatabase;
  let store: MysqlStore;
  let bus: KafkaBus;
  let urgentBus: KafkaBus;
  let cache: RedisCache;
  let gateway: FastifyInstance;
  let runners: FastifyInstance[] = [];
  let bridge: RunningBridge;
  let dispatcher: Dispatcher;
  let persister: PersisterHandle;
  let sim: SimulatorProvider;
  let conn: mysql.Connection;
  const sends = new Map<string, number>();
  /** The runners' clock: real time shifted by `offset`, which the scheduling test moves. */
  const clock = { offset: 0 };
  const logger = createLogger({ level: process.env.PIGEON_TEST_LOG ?? 'silent' });
  const policy = sendPolicySettings(loadConfig({}));

  const query = async <T>(sql: string, params: unknown[]): Promise<T[]> => {
    const [rows] = await conn.query(sql, params);
    return rows as T[];
  };
  const count = async (sql: string, params: unknown[]) =>
    Number((await query<{ n: number }>(sql, params))[0]!.n);
  const campaign = async (c: CampaignRecord) => (await store.getCampaign(c.tenantId, c.id))!;
  const untilState = (c: CampaignRecord, state: CampaignRecord['state'], timeoutMs = 60_000) =>
    waitFor(async () => (await campaign(c)).state === state, timeoutMs, `campaign ${state}`);
  const untilRow = (c: CampaignRecord, row: number) =>
    waitFor(async () => (await campaign(c)).nextRow >= row, 60_000, `row ${row} expanded`);
  const statusCounts = async (c: CampaignRecord) =>
    Object.fromEntries(
      (
        await query<{ status: string; error_code: string | null; n: number }>(
          'SELECT status, error_code, COUNT(*) n FROM messages WHERE campaign_id = ? GROUP BY status, error_code',
          [c.id],
        )
      ).map((r) => [r.error_code ? `${r.status}:${r.error_code}` : r.status, Number(r.n)]),
    );
  /** Checks every message of the campaign is one row's, to one recipient, sent at most once. */
  const assertOncePerRow = async (c: CampaignRecord, expected: number) => {
    const ids = (await query<{ id: string }>('SELECT id FROM messages WHERE campaign_id = ?', [c.id])).map(
      (r) => r.id,
    );
    assert.equal(ids.length, expected, 'messages in MariaDB');
    const recipients = await count('SELECT COUNT(DISTINCT recipient) n FROM messages WHERE campaign_id = ?', [
      c.id,
    ]);
    assert.equal(recipients, expected, 'one message per recipient');
    for (const id of ids) assert.ok((sends.get(id) ?? 0) <= 1, `message ${id} sent ${sends.get(id)} times`);
    return ids;
  };
  const runnerApi = (holder: string) =>
    buildApi({
      logger,
      bus,
      urgentBus,
      store,
      cache,
      registry: new Registry(),
      readiness: new Readiness(),
      providers: new Map(),
      publishTimeoutMs: 5_000,
      simulatorEnabled: false,
      sendPolicy: { settings: policy },
      campaignRunner: { holder, settings: SETTINGS },
      now: () => Date.now() + clock.offset,
    });

  before(async () => {
    db = await createTestDatabase();
    store = new MysqlStore(db.url, { connectionLimit: 8 });
    await store.migrate();
    cache = new RedisCache(TEST_REDIS_URL);
    bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `campaigns-${RUN}`, logger });
    // The high lane's own producer, as the api and bridge services have.
    urgentBus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `campaigns-urgent-${RUN}`, logger });
    await bus.ensureTopics(topicSpecs(6));
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    sim = new SimulatorProvider(`sim-${RUN}`, {
      secret: 'campaigns-e2e',
      outbox: cache,
      logger,
      receiptDelayMs: 20,
    });
    const send = sim.send.bind(sim);
    sim.send = (request, signal) => {
      sends.set(request.messageId, (sends.get(request.messageId) ?? 0) + 1);
      return send(request, signal);
    };
    const bridgeRegistry = new Registry();
    dispatcher = fixedDispatcher(
      [{ adapter: sim, weight: 1, definition: { name: sim.name, type: 'simulator' } }],
      { cache, logger, registry: bridgeRegistry },
      { publicUrl },
    );
    bridge = await startBridge({
      bus,
      urgentPublisher: urgentBus,
      dispatcher,
      logger,
      registry: bridgeRegistry,
      concurrency: 64,
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
    // The api clients send through and providers post receipts to; it runs no campaigns.
    gateway = await buildApi({
      logger,
      bus,
      urgentBus,
      store,
      cache,
      registry: new Registry(),
      readiness: new Readiness(),
      providers: new Map([[sim.name, sim]]),
      publicUrl,
      publishTimeoutMs: 5_000,
      simulatorEnabled: false,
      sendPolicy: { settings: policy },
    });
    await gateway.listen({ port, host: '127.0.0.1' });
    conn = await mysql.createConnection({ uri: db.url });
    // Groups start at the end of their topics once joined: probe every partition of the bulk
    // lane through to MariaDB before any campaign starts.
    const probeTenant = tenant('probe');
    await store.putApiKey(apiKeyRecord(API_KEY, probeTenant, ['messages:write', 'messages:read'], 'e2e'));
    const number = numbers(24);
    await waitFor(
      async () => {
        const ids = await Promise.all(
          Array.from({ length: 24 }, async (_, i) => {
            const response = await gateway.inject({
              method: 'POST',
              url: '/v1/messages',
              headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
              payload: JSON.stringify({
                to: number(i),
                body: `probe ${i} ${Date.now()}`,
                class: 'marketing',
              }),
            });
            return response.json<{ id: string }>().id;
          }),
        );
        for (let i = 0; i < 50; i++) {
          const delivered = await count(
            "SELECT COUNT(*) n FROM messages WHERE id IN (?) AND status = 'delivered'",
            [ids],
          );
          if (delivered === ids.length) return true;
          await sleep(200);
        }
        return false;
      },
      120_000,
      'bridge, persister and receipts flowing on every partition',
    );
  });

  /** Two api replicas' runners in this process, sharing the store, the cache and the bus. */
  const startRunners = async () => {
    if (runners.length > 0) return;
    runners = [await runnerApi('api-a'), await runnerApi('api-b')];
    for (const app of runners) await app.ready();
  };

  after(async () => {
    for (const app of runners) await app.close();
    await gateway?.close();
    await bridge?.close();
    await persister?.close();
    await dispatcher?.close();
    await sim?.close();
    await bus?.close();
    await urgentBus?.close();
    await cache?.close();
    await conn?.end();
    await store?.close();
    await db?.drop();
  });

  test('a 2,000-row campaign whose runner process is SIGKILLed twice completes with exact counts: every row sent once', async (t) => {
    // Runner processes of their own: no runner in this process yet.
    const c = await storedCampaign(store, { tenantId: tenant('crash'), rows: 2_000, number: numbers(2_000) });
    const spawnRunner = async (holder: string): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/campaign-runner-process.mts'], {
        env: {
          ...process.env,
          BROKERS: TEST_KAFKA_BROKERS.join(','),
          MYSQL_URL: db.url,
          REDIS_URL: TEST_REDIS_URL,
          HOLDER: holder,
          SETTINGS: JSON.stringify({ ...SETTINGS, chunkRows: 100, leaseTtlMs: 1_500 }),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`runner exited ${code}`)));
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) resolve();
        });
      });
      return child;
    };
    const kill = async (child: ChildProcess) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    };
    const first = await spawnRunner(`crash-1-${RUN}`);
    await untilRow(c, 500);
    await kill(first);
    const second = await spawnRunner(`crash-2-${RUN}`);
    await waitFor(async () => (await campaign(c)).nextRow >= 1_200, 60_000, 'second runner resumed');
    await kill(second);
    const killedAt = (await campaign(c)).nextRow;
    assert.ok(killedAt < 2_000, 'killed mid-campaign');
    const third = await spawnRunner(`crash-3-${RUN}`);
    try {
      await untilState(c, 'completed');
    } finally {
      await kill(third);
    }
    const ids = await assertOncePerRow(c, 2_000);
    // assertOncePerRow checked none was sent twice here; on a broker shared with other runs another
    // bridge (other consumer groups, same Redis claims) may take some of them: it never sends twice.
    t.diagnostic(`sent once at this simulator: ${ids.filter((id) => sends.get(id) === 1).length} of 2000`);
    // The run completed only once every message was final. Delivered, unless a receipt was lost
    // on an overloaded machine (then `unknown`, never a second send): reported, not asserted.
    const counts = await statusCounts(c);
    t.diagnostic(`statuses after two SIGKILLs: ${JSON.stringify(counts)}`);
    assert.equal(
      Object.entries(counts)
        .filter(([status]) => status === 'delivered' || status.startsWith('unknown'))
        .reduce((sum, [, n]) => sum + n, 0),
      2_000,
      JSON.stringify(counts),
    );
    // Ids are the row's, derived from (campaign, run, row): what a restarted runner makes again.
    const done = await campaign(c);
    const expected = new Set(
      Array.from({ length: 2_000 }, (_, row) => campaignMessageId(c.id, 0, row, done.startedAt!)),
    );
    assert.ok(ids.every((id) => expected.has(id)));
    const [row] = await query<{ body: string; lane: string; message_class: string; client_ref: string }>(
      'SELECT body, lane, message_class, client_ref FROM messages WHERE id = ?',
      [campaignMessageId(c.id, 0, 4, done.startedAt!)],
    );
    assert.deepEqual(row, {
      body: `Hello row4, campaign ${c.id}. Reply STOP to opt out`,
      lane: 'bulk',
      message_class: 'marketing',
      client_ref: 'ref-4',
    });
  });

  test('scheduled for 09:00 in Asia/Shanghai, it starts then, once, with two runners; a daily one runs again the next day', async () => {
    await startRunners();
    const tenantId = tenant('schedule');
    // Dedup off: the second run sends the same text to the same numbers minutes later in real time.
    await store.putTenantMessagingPolicy(tenantId, {
      quietHours: null,
      marketingPerDay: null,
      marketingPerWeek: null,
      dedupWindowSeconds: 0,
      smartEncoding: false,
      updatedAt: Date.now(),
    });
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const sendAt = instantOf(`${tomorrow}T09:00`, 'Asia/Shanghai');
    const c = await storedCampaign(store, {
      tenantId,
      rows: 40,
      number: numbers(40),
      sendAt,
      timeZone: 'Asia/Shanghai',
      recurrence: 'daily',
      webhookUrl: WEBHOOK,
    });
    await sleep(500);
    assert.equal((await campaign(c)).state, 'scheduled', 'not before its time');
    clock.offset = sendAt - Date.now() + 1_000;
    try {
      await waitFor(async () => (await campaign(c)).run === 1, 60_000, 'first run over');
      const next = await campaign(c);
      assert.equal(next.state, 'scheduled');
      assert.equal(next.sendAt, sendAt + 86_400_000, 'the next day at 09:00 Shanghai time');
      assert.equal(await count('SELECT COUNT(*) n FROM messages WHERE campaign_id = ?', [c.id]), 40);
      clock.offset += 86_400_000;
      await waitFor(async () => (await campaign(c)).run === 2, 60_000, 'second run over');
    } finally {
      clock.offset = 0;
    }
    // Two runs of 40, each row's id its own per run; each run started exactly once.
    await assertOncePerRow(c, 80).catch((err: unknown) => {
      // The same 40 numbers receive one message per run.
      if (!(err instanceof assert.AssertionError) || !String(err.message).includes('recipient')) throw err;
    });
    assert.equal(await count('SELECT COUNT(DISTINCT id) n FROM messages WHERE campaign_id = ?', [c.id]), 80);
    const started = await query<{ payload: string }>(
      "SELECT payload FROM callback_deliveries WHERE message_id = ? AND payload LIKE '%campaign.started%'",
      [c.id],
    );
    assert.deepEqual(
      started.map((s) => (JSON.parse(s.payload) as { run: number }).run).sort(),
      [0, 1],
      'one start event per run',
    );
  });

  test('a CSV campaign through /v1/campaigns: pause stops expansion, resume continues from the checkpoint, cancel stops it for good, counts exact', async () => {
    await startRunners();
    const tenantId = tenant('control');
    const key = generateApiKey();
    await store.putApiKey(apiKeyRecord(key, tenantId, ['campaigns:write', 'campaigns:read'], 'e2e'));
    await store.putWebhook({
      tenantId,
      url: WEBHOOK,
      secret: 'whsec_campaign-tests',
      createdAt: 0,
      updatedAt: 0,
    });
    const call = async (
      method: 'POST' | 'PUT' | 'GET',
      url: string,
      payload?: string,
      type = 'application/json',
    ) => {
      const response = await gateway.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${key}`,
          ...(payload === undefined ? {} : { 'content-type': type }),
        },
        ...(payload === undefined ? {} : { payload }),
      });
      assert.ok(response.statusCode < 300, `${method} ${url}: ${response.statusCode} ${response.body}`);
      return response.json<{ id: string; state: string }>();
    };
    const created = await call(
      'POST',
      '/v1/campaigns',
      JSON.stringify({
        name: 'control',
        body: 'Our sale starts today. Reply STOP to opt out',
        class: 'marketing',
        rateCap: 300,
      }),
    );
    const number = numbers(2_000);
    const csv = ['to,clientRef', ...Array.from({ length: 2_000 }, (_, i) => `${number(i)},ref-${i}`)].join(
      '\r\n',
    );
    await call('PUT', `/v1/campaigns/${created.id}/recipients`, csv, 'text/csv');
    await call('POST', `/v1/campaigns/${created.id}/submit`);
    const c = (await store.getCampaign(tenantId, created.id))!;
    await untilRow(c, 300);
    assert.equal((await call('POST', `/v1/campaigns/${c.id}/pause`)).state, 'paused');
    await sleep(500);
    const paused = (await campaign(c)).nextRow;
    await sleep(1_000);
    assert.equal((await campaign(c)).nextRow, paused, 'no row expanded while paused');
    assert.equal((await call('POST', `/v1/campaigns/${c.id}/resume`)).state, 'running');
    await untilRow(c, paused + 200);
    assert.equal((await call('POST', `/v1/campaigns/${c.id}/cancel`)).state, 'cancelled');
    await sleep(500);
    const cancelledAt = (await campaign(c)).nextRow;
    assert.ok(cancelledAt < 2_000, 'cancelled before the end');
    // A chunk published just as the cancel landed is not checkpointed (the checkpoint moves only
    // while running), so up to one chunk beyond it may be in the lane: the bridge skips those.
    const stored = () => count('SELECT COUNT(*) n FROM messages WHERE campaign_id = ?', [c.id]);
    const final = () =>
      count(
        "SELECT COUNT(*) n FROM messages WHERE campaign_id = ? AND status NOT IN ('queued','submitted')",
        [c.id],
      );
    await waitFor(
      async () => (await stored()) >= cancelledAt && (await final()) === (await stored()),
      60_000,
      'all final',
    );
    await sleep(1_000);
    assert.equal((await campaign(c)).nextRow, cancelledAt, 'nothing expanded after the cancel');
    const made = await stored();
    assert.ok(made <= cancelledAt + SETTINGS.chunkRows!, `${made} messages for ${cancelledAt} rows`);
    const counts = await statusCounts(c);
    // Every message ended: sent before the cancel, or skipped by the bridge after it; none twice.
    assert.equal(
      (counts.delivered ?? 0) + (counts['skipped:CAMPAIGN_CANCELLED'] ?? 0),
      made,
      JSON.stringify(counts),
    );
    const ids = await assertOncePerRow(c, made);
    // They are the campaign's first rows, none skipped over by the pause or the resume.
    const startedAt = (await campaign(c)).startedAt!;
    const prefix = new Set(
      Array.from({ length: made }, (_, row) => campaignMessageId(c.id, 0, row, startedAt)),
    );
    assert.ok(
      ids.every((id) => prefix.has(id)),
      'rows 0…n-1',
    );
    const events = (
      await query<{ payload: string }>('SELECT payload FROM callback_deliveries WHERE message_id = ?', [c.id])
    ).map((r) => (JSON.parse(r.payload) as { type: string }).type);
    assert.deepEqual([...new Set(events)].sort(), [
      'campaign.cancelled',
      'campaign.paused',
      'campaign.resumed',
      'campaign.started',
    ]);
    assert.equal(events.length, 4, 'each change reported once');
  });

  test("two tenants' campaigns progress at comparable rates, and OTPs sent meanwhile are submitted", async (t) => {
    // OTPs from a third tenant: 20 with the bulk lane idle, then 20 while both campaigns drain.
    const otpTenant = tenant('otp');
    const otpKey = generateApiKey();
    await store.putApiKey(apiKeyRecord(otpKey, otpTenant, ['messages:write'], 'e2e'));
    // One number per area code: OTPs count per number range (PIGEON_OTP_PREFIX_BURST).
    const areas = [
      201, 212, 213, 305, 312, 404, 415, 503, 512, 602, 617, 646, 702, 713, 718, 720, 808, 907, 917, 971,
    ];
    const otpNumber = (i: number) =>
      `+1${areas[i]}555${String(1_000 + Math.floor(Math.random() * 8_999)).padStart(4, '0')}`;
    const sendOtps = async () => {
      const ids: string[] = [];
      for (let i = 0; i < areas.length; i++) {
        const response = await gateway.inject({
          method: 'POST',
          url: '/v1/messages',
          headers: { authorization: `Bearer ${otpKey}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ to: otpNumber(i), body: `Your code is ${100_000 + i}`, class: 'otp' }),
        });
        assert.equal(response.statusCode, 202, response.body);
        ids.push(response.json<{ id: string }>().id);
        await sleep(25);
      }
      return ids;
    };
    /** Waits for every one of `ids` to be submitted; their accept → submitted, ascending. */
    const submittedLatencies = async (ids: string[]) => {
      await waitFor(
        async () =>
          (await count(
            "SELECT COUNT(*) n FROM messages WHERE id IN (?) AND status IN ('submitted','delivered')",
            [ids],
          )) === ids.length,
        30_000,
        'every OTP submitted',
      );
      const rows = await query<{ lane: string; queued_at: number; submitted_at: number }>(
        'SELECT lane, queued_at, submitted_at FROM messages WHERE id IN (?)',
        [ids],
      );
      assert.ok(rows.every((o) => o.lane === 'high'));
      return rows.map((o) => Number(o.submitted_at) - Number(o.queued_at)).sort((a, b) => a - b);
    };
    const idle = await submittedLatencies(await sendOtps());

    await startRunners();
    const big = await storedCampaign(store, { tenantId: tenant('big'), rows: 1_500, number: numbers(1_500) });
    await untilRow(big, 200);
    const small = await storedCampaign(store, { tenantId: tenant('small'), rows: 300, number: numbers(300) });
    await waitFor(async () => (await campaign(small)).state === 'running', 30_000, 'small campaign started');
    const otpIds = await sendOtps();
    await untilState(small, 'completed');
    // Shares are of the messages released into the lane, read from their build times (a tick's
    // clock: one value per tick). They are compared over the ticks in which both campaigns still had
    // rows to release: from the small one's first up to, not including, its last, in which it
    // released what it had left and the big one the rest of the room, as a work-conserving share should.
    const perTick = await query<{ at: number; big: number; small: number }>(
      `SELECT queued_at at, SUM(campaign_id = ?) big, SUM(campaign_id = ?) small FROM messages
        WHERE campaign_id IN (?, ?) AND queued_at BETWEEN
          (SELECT MIN(queued_at) FROM messages WHERE campaign_id = ?) AND
          (SELECT MAX(queued_at) FROM messages WHERE campaign_id = ?)
        GROUP BY queued_at ORDER BY queued_at`,
      [big.id, small.id, big.id, small.id, small.id, small.id],
    );
    const both = perTick.slice(0, -1);
    const released = (key: 'big' | 'small') => both.reduce((sum, tick) => sum + Number(tick[key]), 0);
    const [bigGained, smallGained] = [released('big'), released('small')];
    const ticks = perTick.map((tick) => `${tick.big}/${tick.small}`).join(' ');
    t.diagnostic(
      `while both had rows to release the big campaign released ${bigGained}, the small one ${smallGained} (per tick, big/small: ${ticks})`,
    );
    assert.equal(await count('SELECT COUNT(*) n FROM messages WHERE campaign_id = ?', [small.id]), 300);
    // Fair share: the big tenant got about as much as the small one, not everything. Deficit
    // round-robin evens them out to within a few quanta whatever the room each tick held.
    assert.ok(Math.abs(bigGained - smallGained) <= 4 * SETTINGS.quantum!, ticks);
    const draining = await submittedLatencies(otpIds);
    // Of 20, the p99 is the slowest one.
    const figures = (l: number[]) => `p50 ${l[Math.ceil(l.length / 2) - 1]} ms, p99 ${l.at(-1)} ms`;
    t.diagnostic(
      `OTP accept→submitted, bulk lane idle: ${figures(idle)}; while the campaigns drain: ${figures(draining)}`,
    );
    // How fast they went beside the campaigns is bench:bulk's figure (300 OTPs idle against
    // draining, on a broker of its own); here only that all of them went, on the high lane, and
    // that the campaigns still completed.
    await untilState(big, 'completed');
    // Each row one message, every message final (the run completed only then).
    await assertOncePerRow(big, 1_500);
    await assertOncePerRow(small, 300);
  });
});
