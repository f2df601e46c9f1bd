/**
 * The persister against real Kafka and MariaDB when the database misbehaves: cut off for 30 s
 * while traffic keeps coming (a TCP proxy resets every connection), read-only as during a
 * failover, or refusing one row. Afterwards every count is exact: one row per message, one history
 * row per event, one attempt row per provider call, nothing in the DLQ that does not belong there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import type { Registry } from 'prom-client';
import type { Subscription } from '../../core/bus/bus.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested, MessageSubmitted, ReceiptReceived } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { type PersisterHandle, startPersister } from '../../persister/src/persister.ts';
import { TEST_KAFKA_BROKERS, TEST_MYSQL_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { sleep, waitFor } from '../support/wait.ts';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

type Triple = [MessageRequested, MessageSubmitted, ReceiptReceived];

function eventsFor(i: number, overrides: Partial<MessageRequested> = {}): Triple {
  const messageId = newId();
  const now = Date.now();
  return [
    {
      ...eventBase(messageId, 'tenant-a', now),
      type: 'message.requested',
      to: '+14155550123',
      body: `outage ${i}`,
      class: 'transactional',
      lane: 'normal',
      segments: 1,
      encoding: 'GSM-7',
      expiresAt: new Date(now + 60_000).toISOString(),
      acceptDeadline: new Date(now + 2_000).toISOString(),
      ...overrides,
    },
    {
      ...eventBase(messageId, 'tenant-a', now + 1),
      type: 'message.submitted',
      provider: 'sim-a',
      providerMessageId: `SIM${i}`,
      attempt: 1,
      segments: 1,
      cost: 0.01,
      latencyMs: 5,
      requestedAt: new Date(now - 4).toISOString(),
    },
    {
      ...eventBase(messageId, 'tenant-a', now + 2),
      type: 'receipt.received',
      provider: 'sim-a',
      providerMessageId: `SIM${i}`,
      status: 'delivered',
      providerStatus: 'DELIVRD',
    },
  ];
}

/** Topics of one suite, so a new consumer group does not read every earlier run's records. */
function suiteTopics() {
  const suffix = uniqueSuffix();
  return {
    lane: `persister-it.${suffix}.send`,
    outcomes: `persister-it.${suffix}.outcomes`,
    receipts: `persister-it.${suffix}.receipts`,
    dlq: `persister-it.${suffix}.dlq`,
  };
}

interface Rig {
  db: TestDatabase;
  bus: KafkaBus;
  store: MysqlStore;
  registry: Registry;
  persister: PersisterHandle;
  topics: ReturnType<typeof suiteTopics>;
  deadLetters: Array<{ value: string; headers: Record<string, string> }>;
  dlqSubscription: Subscription;
  publish(triples: readonly Triple[], key?: string): Promise<void>;
  count(sql: string, ids: readonly string[]): Promise<number>;
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  close(): Promise<void>;
}

async function startRig(options: { db: TestDatabase; storeUrl: string }): Promise<Rig> {
  const { db } = options;
  const topics = suiteTopics();
  const store = new MysqlStore(options.storeUrl, { connectionLimit: 4, connectTimeoutMs: 1000 });
  await store.migrate();
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `persister-it-${uniqueSuffix()}` });
  await bus.ensureTopics(Object.values(topics).map((name) => ({ name, partitions: 3 })));
  const deadLetters: Rig['deadLetters'] = [];
  const dlqSubscription = await bus.subscribe({
    groupId: `persister-it-dlq-${uniqueSuffix()}`,
    topics: [topics.dlq],
    handler: async (batch) => {
      for (const r of batch.records) deadLetters.push({ value: r.value, headers: r.headers ?? {} });
    },
  });
  const registry = createRegistry('persister');
  const persister = await startPersister({
    bus,
    store,
    logger,
    registry,
    groupId: `persister-it-${uniqueSuffix()}`,
    topics: [topics.lane, topics.outcomes, topics.receipts],
    dlqTopic: topics.dlq,
    batch: { maxRows: 200, maxWaitMs: 20, writers: 2 },
    retry: { initialMs: 100, maxMs: 1000 },
  });
  const admin = await mysql.createConnection({ uri: db.url });
  return {
    db,
    bus,
    store,
    registry,
    persister,
    topics,
    deadLetters,
    dlqSubscription,
    async publish(triples, key) {
      const records = (i: 0 | 1 | 2) =>
        triples.map((t) => ({ key: key ?? t[0].messageId, value: JSON.stringify(t[i]) }));
      await Promise.all([
        bus.publish(topics.lane, records(0)),
        bus.publish(topics.outcomes, records(1)),
        bus.publish(topics.receipts, records(2)),
      ]);
    },
    async count(sql, ids) {
      const [rows] = await admin.query(sql, [ids]);
      return Number((rows as Array<{ n: number }>)[0]!.n);
    },
    async metric(name, labels = {}) {
      const metric = await registry.getSingleMetric(name)?.get();
      const value = metric?.values.find((v) =>
        Object.entries(labels).every(([k, l]) => String((v.labels as Record<string, unknown>)[k]) === l),
      );
      return value?.value;
    },
    async close() {
      await persister.close();
      await dlqSubscription.close();
      await bus.close();
      await store.close();
      await admin.end();
    },
  };
}

/** Waits until every message is stored with its three events and its attempt, then checks it stays exact. */
async function expectExactlyOnce(rig: Rig, ids: readonly string[], timeoutMs: number): Promise<void> {
  const n = ids.length;
  await waitFor(
    async () =>
      (await rig.count("SELECT COUNT(*) n FROM messages WHERE id IN (?) AND status = 'delivered'", ids)) ===
        n &&
      (await rig.count('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?)', ids)) === 3 * n &&
      (await rig.count('SELECT COUNT(*) n FROM message_attempts WHERE message_id IN (?)', ids)) === n,
    timeoutMs,
    `all ${n} messages delivered with 3 events and 1 attempt each`,
  );
  // Late duplicates would show up now.
  await sleep(1000);
  assert.equal(await rig.count('SELECT COUNT(*) n FROM messages WHERE id IN (?)', ids), n);
  assert.equal(await rig.count('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?)', ids), 3 * n);
  assert.equal(await rig.count('SELECT COUNT(*) n FROM message_attempts WHERE message_id IN (?)', ids), n);
  assert.equal(
    await rig.count(
      `SELECT COUNT(*) n FROM (SELECT message_id FROM message_events WHERE message_id IN (?)
        GROUP BY message_id, type HAVING COUNT(*) <> 1) d`,
      ids,
    ),
    0,
    'every message has each event exactly once',
  );
}

describe('persister while MariaDB is cut off for 30 s under load', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let rig: Rig;

  before(async () => {
    db = await createTestDatabase();
    const target = new URL(db.url);
    proxy = await startTcpProxy({ targetHost: target.hostname, targetPort: Number(target.port || 3306) });
    const proxied = new URL(db.url);
    proxied.port = String(proxy.port);
    rig = await startRig({ db, storeUrl: proxied.toString() });
  });

  after(async () => {
    await rig?.close();
    await proxy?.close();
    await db?.drop();
  });

  test('pauses and shows the outage, then stores every message exactly once', async () => {
    const all: Triple[] = [];
    let publishing = true;
    // About 100 messages (300 events) a second, before, during and after the cut.
    const load = (async () => {
      for (let i = 0; publishing; i += 10) {
        const triples = Array.from({ length: 10 }, (_, k) => eventsFor(i + k));
        all.push(...triples);
        await rig.publish(triples);
        await sleep(100);
      }
    })();

    await sleep(3000);
    proxy.cut();
    const cutAt = Date.now();
    await waitFor(() => !rig.persister.isDatabaseUp(), 10_000, 'persister notices the outage');
    await waitFor(() => rig.persister.isPaused(), 5_000, 'consumption paused');
    assert.equal(await rig.metric('pigeon_persister_database_up'), 0);
    assert.equal(await rig.metric('pigeon_persister_paused'), 1);
    while (Date.now() - cutAt < 20_000) await sleep(250);
    const behind = await rig.metric('pigeon_persister_behind_seconds');
    assert.ok(behind !== undefined && behind >= 15, `records waiting for ${behind} s show on /metrics`);
    assert.ok(((await rig.metric('pigeon_persister_pending_events')) ?? 0) > 0);
    while (Date.now() - cutAt < 30_000) await sleep(250);
    proxy.restore();
    await sleep(3000);
    publishing = false;
    await load;

    await expectExactlyOnce(
      rig,
      all.map(([r]) => r.messageId),
      120_000,
    );
    const total = async (table: string) => rig.count(`SELECT COUNT(*) n FROM ${table}`, []);
    assert.deepEqual(
      {
        messages: await total('messages'),
        events: await total('message_events'),
        attempts: await total('message_attempts'),
      },
      { messages: all.length, events: 3 * all.length, attempts: all.length },
      'nothing else either',
    );
    assert.ok(rig.persister.isDatabaseUp());
    assert.ok(!rig.persister.isPaused());
    assert.equal(await rig.metric('pigeon_persister_database_up'), 1);
    assert.equal(await rig.metric('pigeon_persister_paused'), 0);
    assert.ok(
      ((await rig.metric('pigeon_persister_write_failures_total', { kind: 'unavailable' })) ?? 0) > 0,
    );
    assert.deepEqual(rig.deadLetters, [], 'an outage is no reason to dead-letter anything');
    assert.ok(all.length > 3000, `${all.length} messages published`);
  });
});

describe('persister when one row is refused by the database', () => {
  let db: TestDatabase;
  let rig: Rig;

  before(async () => {
    db = await createTestDatabase();
    rig = await startRig({ db, storeUrl: db.url });
  });

  after(async () => {
    await rig?.close();
    await db?.drop();
  });

  test('the row goes to the DLQ with the reason while its partition keeps flowing', async () => {
    const before = Array.from({ length: 50 }, (_, i) => eventsFor(i));
    // A recipient longer than its column (VARCHAR(32)): valid JSON, a valid event, refused data.
    const poison = eventsFor(50, { to: `+1${'5'.repeat(40)}` });
    const afterwards = Array.from({ length: 50 }, (_, i) => eventsFor(51 + i));
    // One key: everything on the same partition of each topic, the poison in the middle.
    await rig.publish([...before, poison, ...afterwards], 'one-partition');

    const good = [...before, ...afterwards].map(([r]) => r.messageId);
    await waitFor(() => rig.deadLetters.length >= 1, 60_000, 'the refused event reaches the DLQ');
    await expectExactlyOnce(rig, good, 60_000);
    assert.equal(rig.deadLetters.length, 1);
    const [letter] = rig.deadLetters;
    assert.equal(JSON.parse(letter!.value).id, poison[0].id);
    assert.match(letter!.headers.reason ?? '', /too long/i);
    assert.equal(letter!.headers.source, rig.topics.lane);
    assert.equal(letter!.headers.kind, 'rejected_by_database');
    // Its submission and receipt were fine on their own: the row exists, without a recipient.
    const row = await rig.store.getMessage('tenant-a', poison[0].messageId);
    assert.equal(row?.status, 'delivered');
    assert.equal(row?.recipient, '');
    assert.equal(
      await rig.metric('pigeon_persister_dead_letters_total', { reason: 'rejected_by_database' }),
      1,
    );
    assert.ok(rig.persister.isDatabaseUp(), 'refused data is not an outage');
  });

  test('a record that is not an event goes to the DLQ as malformed', async () => {
    const good = eventsFor(1000);
    await rig.bus.publish(rig.topics.receipts, [{ key: 'x', value: '{"type":"receipt.received"' }]);
    await rig.publish([good]);
    await waitFor(() => rig.deadLetters.length >= 2, 30_000, 'the malformed record reaches the DLQ');
    assert.equal(rig.deadLetters[1]!.headers.kind, 'malformed');
    assert.equal(rig.deadLetters[1]!.headers.source, rig.topics.receipts);
    await waitFor(
      async () => (await rig.store.getMessage('tenant-a', good[0].messageId))?.status === 'delivered',
      30_000,
      'the next record is written',
    );
  });
});

describe('persister while the database is read-only (a failover in progress)', () => {
  let db: TestDatabase;
  let rig: Rig;
  let root: mysql.Connection;
  const user = `pigeon_rw_${uniqueSuffix()}`;

  before(async () => {
    db = await createTestDatabase();
    root = await mysql.createConnection({ uri: TEST_MYSQL_URL });
    const name = new URL(db.url).pathname.slice(1);
    // read_only stops everyone without the privilege to bypass it, which root has.
    await root.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw'`);
    await root.query(`GRANT ALL PRIVILEGES ON \`${name}\`.* TO '${user}'@'%'`);
    const url = new URL(db.url);
    url.username = user;
    url.password = 'pw';
    rig = await startRig({ db, storeUrl: url.toString() });
  });

  after(async () => {
    await root?.query('SET GLOBAL read_only = 0').catch(() => undefined);
    await rig?.close();
    await root?.query(`DROP USER IF EXISTS '${user}'@'%'`).catch(() => undefined);
    await root?.end();
    await db?.drop();
  });

  test('counts as down, not as bad data: pauses, retries, resumes, loses and dead-letters nothing', async () => {
    const first = Array.from({ length: 50 }, (_, i) => eventsFor(i));
    await rig.publish(first);
    await expectExactlyOnce(
      rig,
      first.map(([r]) => r.messageId),
      60_000,
    );

    const second = Array.from({ length: 100 }, (_, i) => eventsFor(100 + i));
    await root.query('SET GLOBAL read_only = 1');
    try {
      await rig.publish(second);
      await waitFor(() => !rig.persister.isDatabaseUp(), 30_000, 'persister sees the read-only database');
      await waitFor(() => rig.persister.isPaused(), 5_000, 'consumption paused');
      await sleep(3000);
      assert.equal(
        await rig.count(
          'SELECT COUNT(*) n FROM messages WHERE id IN (?)',
          second.map(([r]) => r.messageId),
        ),
        0,
      );
    } finally {
      await root.query('SET GLOBAL read_only = 0');
    }

    await expectExactlyOnce(
      rig,
      [...first, ...second].map(([r]) => r.messageId),
      60_000,
    );
    assert.ok(rig.persister.isDatabaseUp());
    assert.ok(!rig.persister.isPaused());
    assert.deepEqual(rig.deadLetters, []);
  });
});
