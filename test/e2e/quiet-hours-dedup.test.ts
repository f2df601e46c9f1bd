/**
 * Quiet hours, frequency caps and dedup end to end: the four services as processes over the real
 * Kafka, MariaDB and Redis, with the simulated provider. Every count is read from MariaDB, where
 * the persister writes what the bridge did.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { TENANT_MESSAGING_POLICY_TTL_MS } from '../../core/messaging-policy.ts';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { type RunningGateway, startGateway } from '../support/processes.ts';
import { SIMULATOR_ENV } from '../support/simulator-env.ts';
import { sleep, waitFor } from '../support/wait.ts';

const API_KEY = `pgn_quiet_hours_test_${Date.now()}_key`;
const TENANT = `e2e-quiet-${Date.now()}`;
const MINUTE_MS = 60_000;

describe('quiet hours, frequency caps and dedup over Kafka, MariaDB and Redis', () => {
  let db: TestDatabase;
  let gateway: RunningGateway;
  let conn: mysql.Connection;

  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${gateway.apiBase}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const putPolicy = async (policy: Record<string, unknown>) => {
    const response = await api('PUT', `/v1/admin/tenants/${TENANT}/messaging-policy`, policy);
    assert.equal(response.status, 200, await response.clone().text());
    // The bridge may hold the previous policy this long.
    await sleep(TENANT_MESSAGING_POLICY_TTL_MS + 1_000);
  };
  const count = async (sql: string, params: unknown[]): Promise<number> => {
    const [rows] = await conn.query(sql, params);
    return Number((rows as Array<{ n: number }>)[0]!.n);
  };
  // A number of its own per run and test: Redis, which keeps the caps, outlives runs.
  const numberFor = (i: number) =>
    `+1415557${String(1000 + ((Date.now() + i * 7919) % 9000)).padStart(4, '0')}`;

  before(async () => {
    db = await createTestDatabase();
    gateway = await startGateway({
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_PARTITIONS: '6',
      KAFKA_GROUP_PREFIX: `pigeon-e2e-quiet-${Date.now()}`,
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_API_KEY: API_KEY,
      PIGEON_OTP_KEY: randomBytes(32).toString('hex'),
      PIGEON_FACTOR_KEY: randomBytes(32).toString('hex'),
      PIGEON_BODY_KEY: randomBytes(32).toString('hex'),
      PIGEON_TENANT: TENANT,
      ...SIMULATOR_ENV,
    });
    conn = await mysql.createConnection({ uri: db.url });
  });

  after(async () => {
    await conn?.end();
    for (const s of gateway?.services ?? []) if (s.child.exitCode === null) s.kill();
    await db?.drop();
  });

  test('20 identical sends at once are one message in MariaDB, the other 19 answered with its id', async () => {
    const to = numberFor(1);
    const body = `Your order ${randomBytes(4).toString('hex')} has shipped`;
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => api('POST', '/v1/messages', { to, body })),
    );
    const answers = await Promise.all(
      responses.map(async (r) => {
        assert.equal(r.status, 202);
        return (await r.json()) as { id: string; duplicate?: boolean };
      }),
    );
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
    assert.equal(
      await count('SELECT COUNT(*) n FROM message_events WHERE message_id = ? AND type = ?', [
        answers[0]!.id,
        'message.submitted',
      ]),
      1,
    );
  });

  test('a marketing cap of three a day holds when eight sends to one number arrive at once', async () => {
    await putPolicy({ marketingPerDay: 3, marketingPerWeek: 20 });
    const to = numberFor(2);
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api('POST', '/v1/messages', { to, class: 'marketing', body: `Offer ${i} ${TENANT}` }),
      ),
    );
    assert.equal(responses.filter((r) => r.status === 202).length, 3);
    const refused = responses.filter((r) => r.status === 429);
    assert.equal(refused.length, 5);
    for (const r of refused) {
      assert.equal(((await r.json()) as { code: string }).code, 'PIGEON_ERR_FREQUENCY_CAPPED');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
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
    // A window around now in Los Angeles, ending at the second minute boundary from now: the local
    // minute boundaries of a whole-hour offset are UTC's, so the release instant is known here.
    const hhmm = (at: number) =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'America/Los_Angeles',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(at);
    const now = Date.now();
    const release = Math.floor(now / MINUTE_MS) * MINUTE_MS + 2 * MINUTE_MS;
    await putPolicy({ quietHours: { start: hhmm(now - MINUTE_MS), end: hhmm(release) } });
    assert.ok(Date.now() < release - 30_000, 'the window still has half a minute to run');

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
          assert.equal(response.status, 202);
          return ((await response.json()) as { id: string }).id;
        }),
      );
    const heldIds = await ids(marketing);
    const goIds = await ids(transactional);

    const events = (type: string, messageIds: string[]) =>
      count('SELECT COUNT(*) n FROM message_events WHERE message_id IN (?) AND type = ?', [messageIds, type]);
    await waitFor(async () => (await events('message.submitted', goIds)) === 3, 60_000, 'transactional sent');
    await waitFor(async () => (await events('message.held', heldIds)) === 5, 60_000, 'marketing held');
    assert.ok(Date.now() < release, 'still inside the window');
    assert.equal(await events('message.submitted', heldIds), 0, 'nothing held went out in the window');
    const view = (await (await api('GET', `/v1/messages/${heldIds[0]}`)).json()) as {
      status: string;
      notBefore: string | null;
    };
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
    const released = (await (await api('GET', `/v1/messages/${heldIds[0]}`)).json()) as {
      notBefore: string | null;
    };
    assert.equal(released.notBefore, null);
  });
});
