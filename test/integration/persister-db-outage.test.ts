import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { eventBase } from '../../core/events.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested, MessageSubmitted, ReceiptReceived } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import { type PersisterHandle, startPersister } from '../../persister/src/persister.ts';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { sleep, waitFor } from '../support/wait.ts';

const MESSAGES = 300;

function eventsFor(i: number): [MessageRequested, MessageSubmitted, ReceiptReceived] {
  const messageId = `01TEST${uniqueSuffix().toUpperCase()}${String(i).padStart(12, '0')}`.slice(0, 26);
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

describe('persister while MariaDB is unreachable for 12 s', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let bus: KafkaBus;
  let store: MysqlStore;
  let persister: PersisterHandle;

  before(async () => {
    db = await createTestDatabase();
    const target = new URL(db.url);
    proxy = await startTcpProxy({ targetHost: target.hostname, targetPort: Number(target.port || 3306) });
    const proxied = new URL(db.url);
    proxied.port = String(proxy.port);
    store = new MysqlStore(proxied.toString(), { connectionLimit: 4, connectTimeoutMs: 1000 });
    await store.migrate();
    bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: `outage-${uniqueSuffix()}` });
    const topics = [LANE_TOPICS.normal, Topics.outcomes, Topics.receipts, Topics.dlq];
    await bus.ensureTopics(topics.map((name) => ({ name, partitions: 6 })));
    persister = await startPersister({
      bus,
      store,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      registry: createRegistry('persister'),
      // Its own group, so no other persister on the shared broker takes its partitions.
      groupId: `persister-outage-${uniqueSuffix()}`,
      retry: { initialMs: 100, maxMs: 1000 },
    });
  });

  after(async () => {
    await persister?.close();
    await bus?.close();
    await store?.close();
    await proxy?.close();
    await db?.drop();
  });

  test('pauses, then catches up: every message stored exactly once with its final status', async () => {
    const all = Array.from({ length: MESSAGES }, (_, i) => eventsFor(i));
    const publish = async (from: number, to: number) => {
      for (const [requested, submitted, receipt] of all.slice(from, to)) {
        await bus.publish(LANE_TOPICS.normal, [{ key: requested.to, value: JSON.stringify(requested) }]);
        await bus.publish(Topics.outcomes, [{ key: submitted.messageId, value: JSON.stringify(submitted) }]);
        await bus.publish(Topics.receipts, [{ key: receipt.messageId, value: JSON.stringify(receipt) }]);
      }
    };
    await publish(0, 100);
    proxy.cut();
    const cutAt = Date.now();
    await publish(100, 200);
    await waitFor(() => !persister.isDatabaseUp(), 10_000, 'persister notices the outage');
    while (Date.now() - cutAt < 12_000) await sleep(250);
    await publish(200, 300);
    proxy.restore();

    const ids = all.map(([r]) => r.messageId);
    const conn = await mysql.createConnection({ uri: db.url });
    try {
      const count = async (sql: string) => {
        const [rows] = await conn.query(sql, [ids]);
        return Number((rows as Array<{ n: number }>)[0]!.n);
      };
      // A new group starts at the beginning of the shared topics, so wait for the whole history.
      await waitFor(
        async () =>
          (await count("SELECT COUNT(*) n FROM messages WHERE id IN (?) AND status = 'delivered'")) ===
            MESSAGES &&
          (await count('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?)')) >= 3 * MESSAGES,
        120_000,
        'all messages delivered and all events recorded',
      );
      await sleep(500);
      assert.equal(await count('SELECT COUNT(*) n FROM messages WHERE id IN (?)'), MESSAGES);
      assert.equal(
        await count('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?)'),
        3 * MESSAGES,
      );
      assert.ok(persister.isDatabaseUp());
    } finally {
      await conn.end();
    }
  });
});
