import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import { LANE_TOPICS } from '../../core/topics.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { type RunningGateway, startGateway } from '../support/processes.ts';
import { SIMULATOR_ENV } from '../support/simulator-env.ts';
import { sleep, waitFor } from '../support/wait.ts';

const MESSAGES = 1000;
const API_KEY = `pgn_distributed_test_${Date.now()}_key`;
const BODY_KEY = randomBytes(32).toString('hex');

describe('distributed gateway: four processes over Kafka, MariaDB and Redis', () => {
  let db: TestDatabase;
  let gateway: RunningGateway;
  let apiBase: string;

  before(async () => {
    db = await createTestDatabase();
    gateway = await startGateway({
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_PARTITIONS: '6',
      KAFKA_GROUP_PREFIX: `pigeon-e2e-${Date.now()}`,
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_API_KEY: API_KEY,
      PIGEON_OTP_KEY: randomBytes(32).toString('hex'),
      PIGEON_FACTOR_KEY: randomBytes(32).toString('hex'),
      PIGEON_BODY_KEY: BODY_KEY,
      // Redis outlives test runs: per-number and per-address code limits must start from zero.
      PIGEON_TENANT: `e2e-${Date.now()}`,
      // …and the client address is a fresh one per run, believed through one proxy hop.
      PIGEON_TRUST_PROXY_HOPS: '1',
      // A test deployment: simulated providers, asked for, with the secret every service shares.
      ...SIMULATOR_ENV,
    });
    apiBase = gateway.apiBase;
  });

  after(async () => {
    for (const s of gateway?.services ?? []) if (s.child.exitCode === null) s.kill();
    await db?.drop();
  });

  test(`${MESSAGES} concurrent messages all reach delivered in MariaDB exactly once`, async () => {
    const ids: string[] = [];
    const send = async (i: number) => {
      const response = await fetch(`${apiBase}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          to: `+1415555${String(1000 + (i % 9000)).padStart(4, '0')}`,
          body: `message ${i}`,
        }),
      });
      assert.equal(response.status, 202, await response.clone().text());
      ids.push(((await response.json()) as { id: string }).id);
    };
    for (let i = 0; i < MESSAGES; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => send(i + j)));
    }
    assert.equal(new Set(ids).size, MESSAGES);

    const conn = await mysql.createConnection({ uri: db.url });
    try {
      const count = async (sql: string): Promise<number> => {
        const [rows] = await conn.query(sql, [ids]);
        return Number((rows as Array<{ n: number }>)[0]!.n);
      };
      await waitFor(
        async () =>
          (await count('SELECT COUNT(*) n FROM messages WHERE id IN (?) AND status = "delivered"')) ===
            MESSAGES &&
          (await count('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?)')) >= 3 * MESSAGES,
        120_000,
        `${MESSAGES} delivered rows with their history`,
      );
      await sleep(500);
      assert.equal(await count('SELECT COUNT(*) n FROM messages WHERE id IN (?)'), MESSAGES);
      // Exactly one request, one submission and one receipt per message: nothing lost, nothing doubled.
      assert.equal(
        await count('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?)'),
        3 * MESSAGES,
      );
      assert.equal(
        await count(
          'SELECT COUNT(*) n FROM message_events WHERE message_id IN (?) AND type = "message.submitted"',
        ),
        MESSAGES,
      );
    } finally {
      await conn.end();
    }

    const one = (await (
      await fetch(`${apiBase}/v1/messages/${ids[0]}`, { headers: { authorization: `Bearer ${API_KEY}` } })
    ).json()) as { status: string; history: Array<{ status: string }> };
    assert.equal(one.status, 'delivered');
    assert.deepEqual(
      one.history.map((h) => h.status),
      ['queued', 'submitted', 'delivered'],
    );
  });

  test('a verification code crosses Kafka sealed and reaches the phone in clear', async () => {
    // A number of its own per run: the simulator outbox (in Redis) outlives runs.
    const to = `+1415556${String(1000 + (randomBytes(2).readUInt16BE() % 9000))}`;
    const client = `10.${randomBytes(3).join('.')}`;
    const response = await fetch(`${apiBase}/v1/verifications`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${API_KEY}`,
        'content-type': 'application/json',
        'x-forwarded-for': client,
      },
      body: JSON.stringify({ to, channel: 'sms', codeLength: 10 }),
    });
    assert.equal(response.status, 201, await response.clone().text());
    let sms: { body: string; messageId: string } | undefined;
    await waitFor(
      async () => {
        const outbox = (await (
          await fetch(`${apiBase}/simulator/messages?to=${encodeURIComponent(to)}`, {
            headers: { authorization: `Bearer ${API_KEY}` },
          })
        ).json()) as { messages: Array<{ body: string; messageId: string }> };
        // The outbox in Redis outlives runs, and another run's code may have gone to this number.
        sms = outbox.messages.find((message) => /\b\d{10}\b/.test(message.body));
        return sms !== undefined;
      },
      30_000,
      'the code in the simulator outbox',
    );
    const code = /(\d{10})/.exec(sms!.body)?.[1];
    assert.ok(code, `the provider got the text in clear: ${sms!.body}`);

    // What the high lane holds for that message is sealed: the code is not in the record.
    const kafka = new Kafka({ brokers: TEST_KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `peek-${Date.now()}` });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [LANE_TOPICS.high], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const value = message.value?.toString() ?? '';
        if (value.includes(sms!.messageId)) seen.push(value);
      },
    });
    try {
      await waitFor(() => seen.length > 0, 30_000, 'the OTP record on the high lane');
    } finally {
      await consumer.disconnect();
    }
    assert.ok(!seen[0]!.includes(code), 'the code is not readable on Kafka');
    assert.match((JSON.parse(seen[0]!) as { body: string }).body, /^enc:v1:/);

    const check = await fetch(`${apiBase}/v1/verification-checks`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${API_KEY}`,
        'content-type': 'application/json',
        'x-forwarded-for': client,
      },
      body: JSON.stringify({ to, code }),
    });
    assert.equal(((await check.json()) as { status: string }).status, 'approved');
  });

  test('every service stops gracefully on SIGTERM', async () => {
    const codes = await gateway.stop();
    assert.deepEqual(codes, { api: 0, monitor: 0, 'supplier-bridge': 0, persister: 0 });
  });
});
