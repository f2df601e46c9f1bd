/**
 * Sending by template end to end: the four services over real Kafka, MariaDB and Redis with the
 * simulated providers. A message names a template, its variables and a locale; the provider gets
 * the rendered text with its look-alikes replaced, and MariaDB holds it delivered as one GSM-7 part.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { TEST_KAFKA_BROKERS, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { type RunningGateway, startGateway } from '../support/processes.ts';
import { SIMULATOR_ENV } from '../support/simulator-env.ts';
import { waitFor } from '../support/wait.ts';

const run = uniqueSuffix();
const API_KEY = `pgn_templates_e2e_${run}_key`;

describe('a message by template over Kafka, MariaDB and Redis', () => {
  let db: TestDatabase;
  let gateway: RunningGateway;

  before(async () => {
    db = await createTestDatabase();
    gateway = await startGateway({
      KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
      KAFKA_GROUP_PREFIX: `pigeon-templates-${run}`,
      MYSQL_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PIGEON_API_KEY: API_KEY,
      PIGEON_TENANT: `templates-${run}`,
      ...SIMULATOR_ENV,
    });
  });

  after(async () => {
    for (const s of gateway?.services ?? []) if (s.child.exitCode === null) s.kill();
    await db?.drop();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.apiBase}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  test('the rendered, smart-encoded text reaches the provider and the message is delivered as one GSM-7 part', async () => {
    const created = await call('POST', '/v1/templates', {
      name: 'order shipped',
      class: 'transactional',
      variants: [
        { locale: 'en', body: 'Hi {{name}}, it’s on its way — order {{order}} ships today.' },
        { locale: 'es', body: 'Hola {{name}}, tu pedido {{order}} ya está en camino.' },
      ],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const templateId = created.body.id as string;

    // A number of its own per run: the simulator outbox (in Redis) outlives runs.
    const to = `+1415557${String(1000 + (randomBytes(2).readUInt16BE() % 9000))}`;
    const accepted = await call('POST', '/v1/messages', {
      to,
      template: templateId,
      variables: { name: 'Ana', order: 88231 },
      locale: 'en-GB',
      smartEncoding: true,
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.deepEqual(
      [accepted.body.encoding, accepted.body.segments, accepted.body.forcedUcs2],
      ['GSM-7', 1, []],
    );
    const id = accepted.body.id as string;

    let delivered: { body: string } | undefined;
    await waitFor(
      async () => {
        const outbox = await call('GET', `/simulator/messages?to=${encodeURIComponent(to)}`);
        delivered = (outbox.body.messages as { body: string }[])[0];
        return delivered !== undefined;
      },
      120_000,
      'the message in the simulator outbox',
    );
    assert.equal(delivered!.body, "Hi Ana, it's on its way - order 88231 ships today.");

    const conn = await mysql.createConnection({ uri: db.url });
    try {
      await waitFor(
        async () => {
          const [rows] = await conn.query('SELECT status FROM messages WHERE id = ?', [id]);
          return (rows as { status: string }[])[0]?.status === 'delivered';
        },
        120_000,
        'the message delivered in MariaDB',
      );
      const [rows] = await conn.query('SELECT encoding, segments, message_class FROM messages WHERE id = ?', [
        id,
      ]);
      assert.deepEqual(rows, [{ encoding: 'GSM-7', segments: 1, message_class: 'transactional' }]);
      const [templates] = await conn.query('SELECT id FROM message_templates');
      assert.deepEqual(templates, [{ id: templateId }]);
    } finally {
      await conn.end();
    }

    const missing = await call('POST', '/v1/messages', {
      to,
      template: templateId,
      variables: { name: 'Ana' },
    });
    assert.equal(missing.status, 422);
    assert.equal(missing.body.code, 'PIGEON_ERR_TEMPLATE_VARIABLES');
  });

  test('every service stops gracefully on SIGTERM', async () => {
    const codes = await gateway.stop();
    assert.deepEqual(codes, { api: 0, monitor: 0, 'supplier-bridge': 0, persister: 0 });
  });
});
