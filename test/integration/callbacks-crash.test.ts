/**
 * A persister process killed with SIGKILL while status callbacks are in flight, then restarted,
 * on real Kafka and MariaDB: every status change still reaches the customer's endpoint at least
 * once (counted by event id at a receiver that verifies signatures), whatever was consumed,
 * enqueued or half-delivered at the kill.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import type { MessageRequested, MessageSubmitted, ReceiptReceived } from '../../core/message.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import { startCallbackReceiver } from '../fakes/callback-receiver.ts';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase } from '../support/mysql.ts';
import { freePort } from '../support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../support/processes.ts';
import { waitFor } from '../support/wait.ts';

const MESSAGES = 60;

test('callbacks in flight when the persister is killed are delivered after its restart', async (t) => {
  const tag = `callbacks-crash-${uniqueSuffix()}`;
  const tenant = `tenant-${tag}`;
  const secret = `whsec_${newId()}`;
  // Slow enough that deliveries are in flight whenever the kill lands.
  const receiver = await startCallbackReceiver({ secret, delayMs: 50 });
  const db = await createTestDatabase();
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: tag });
  let persister: ServiceProcess | undefined;
  t.after(async () => {
    persister?.kill();
    await bus.close();
    await receiver.close();
    await db.drop();
  });

  const store = new MysqlStore(db.url, { connectionLimit: 2 });
  await store.migrate();
  await store.putWebhook({
    tenantId: tenant,
    url: `${receiver.url}/sms`,
    secret,
    createdAt: 0,
    updatedAt: 0,
  });
  await store.close();

  const port = await freePort();
  const env = {
    KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
    KAFKA_GROUP_PREFIX: tag,
    MYSQL_URL: db.url,
    PORT: String(port),
    PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    PIGEON_CALLBACK_TIMEOUT_MS: '2000',
  };
  const start = async () => {
    const service = startServiceProcess('persister', env);
    await waitForReady(`http://127.0.0.1:${port}/readyz`, service, 90_000);
    return service;
  };

  await bus.ensureTopics(topicSpecs(6));
  persister = await start();

  const expected: string[] = [];
  const now = Date.now();
  for (let i = 0; i < MESSAGES; i++) {
    const messageId = newId();
    const requested: MessageRequested = {
      ...eventBase(messageId, tenant, now),
      type: 'message.requested',
      to: '+14155550123',
      body: `crash ${i}`,
      class: 'transactional',
      lane: 'normal',
      segments: 1,
      encoding: 'GSM-7',
      expiresAt: new Date(now + 3_600_000).toISOString(),
      acceptDeadline: new Date(now + 2_000).toISOString(),
    };
    const submitted: MessageSubmitted = {
      ...eventBase(messageId, tenant, now + 1),
      type: 'message.submitted',
      provider: 'sim-a',
      providerMessageId: `SIM-${messageId}`,
      attempt: 1,
      segments: 1,
      cost: 0.01,
      latencyMs: 5,
    };
    const delivered: ReceiptReceived = {
      ...eventBase(messageId, tenant, now + 2),
      type: 'receipt.received',
      provider: 'sim-a',
      providerMessageId: `SIM-${messageId}`,
      status: 'delivered',
      providerStatus: 'DELIVRD',
    };
    expected.push(submitted.id, delivered.id);
    const record = (e: { messageId: string }) => ({ key: e.messageId, value: JSON.stringify(e) });
    await bus.publish(LANE_TOPICS.normal, [record(requested)]);
    await bus.publish(Topics.outcomes, [record(submitted)]);
    await bus.publish(Topics.receipts, [record(delivered)]);
  }

  await waitFor(() => receiver.events.size >= 20, 60_000, 'some callbacks before the kill');
  persister.kill();
  await new Promise((resolve) => persister!.child.once('exit', resolve));
  const atKill = receiver.events.size;
  assert.ok(atKill < expected.length, `the kill came before the end (${atKill} delivered)`);

  persister = await start();
  // Deliveries the dead process had leased are taken again once its lease (timeout + 10 s) ends.
  await waitFor(() => receiver.events.size === expected.length, 60_000, 'every callback after the restart');
  assert.deepEqual(new Set(receiver.events.keys()), new Set(expected));
  assert.ok(
    receiver.requests.every((r) => r.verified),
    'every request signed with the tenant secret',
  );
  const duplicates = receiver.requests.length - receiver.events.size;
  t.diagnostic(`${atKill} delivered before the kill, ${duplicates} delivered twice (at-least-once)`);
  await persister.stop();
  persister = undefined;
});
