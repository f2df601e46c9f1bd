/**
 * The receipt deadline on real Kafka and MariaDB: a message whose receipt never comes ends
 * `unknown` once — one history row, one status callback — even when two persisters sweep it at the
 * same moment, while a delivered one and one still within its deadline are left alone; a receipt
 * arriving afterwards still delivers it. The deadline is an hour and the messages were submitted
 * two hours ago (their events are back-dated), so nothing waits for a clock.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageClass, MessageRequested, PigeonEvent } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';
import { type CallbacksHandle, startCallbacks } from '../../persister/src/callbacks/callbacks.ts';
import { outboxWriter } from '../../persister/src/callbacks/outbox-writer.ts';
import { type PersisterHandle, startPersister } from '../../persister/src/persister.ts';
import { startReceiptSweep } from '../../persister/src/receipt-sweep.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../fakes/callback-receiver.ts';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { waitFor } from '../support/wait.ts';

const HOUR = 3_600_000;
const tag = `receipt-deadline-${uniqueSuffix()}`;
const tenant = `tenant-${tag}`;
const secret = `whsec_${newId()}`;
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
/** An hour for alerts; the other classes far beyond anything this test writes. */
const deadlines: Record<MessageClass, number> = {
  alert: HOUR,
  otp: 1_000 * HOUR,
  transactional: 1_000 * HOUR,
  marketing: 1_000 * HOUR,
};

const topics = {
  lane: `${tag}.send`,
  outcomes: `${tag}.outcomes`,
  receipts: `${tag}.receipts`,
  dlq: `${tag}.dlq`,
};

let db: TestDatabase;
let bus: KafkaBus;
let store: MysqlStore;
let receiver: CallbackReceiver;
let persister: PersisterHandle;
let callbacks: CallbacksHandle;

before(async () => {
  db = await createTestDatabase();
  store = new MysqlStore(db.url, { connectionLimit: 6 });
  await store.migrate();
  receiver = await startCallbackReceiver({ secret });
  await store.putWebhook({
    tenantId: tenant,
    url: `${receiver.url}/status`,
    secret,
    createdAt: 0,
    updatedAt: 0,
  });
  bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: tag });
  // Topics of this run's own: the shared broker holds millions of other suites' records.
  await bus.ensureTopics(Object.values(topics).map((name) => ({ name, partitions: 3 })));
  const groupId = `${tag}-persister`;
  const registry = createRegistry('persister');
  callbacks = startCallbacks({
    store,
    logger,
    registry,
    settings: {
      timeoutMs: 2_000,
      concurrency: 4,
      perHost: 4,
      maxAgeMs: 24 * HOUR,
      keepMs: 72 * HOUR,
      allowPrivateNetworks: true,
    },
    pollMs: 20,
  });
  persister = await startPersister({
    bus,
    store,
    logger,
    registry,
    groupId,
    topics: [topics.lane, topics.outcomes, topics.receipts],
    dlqTopic: topics.dlq,
    outbox: outboxWriter({ store, registry, maxAgeMs: 24 * HOUR }),
  });
});

after(async () => {
  await callbacks?.close();
  await persister?.close();
  await bus?.close();
  await store?.close();
  await receiver?.close();
  await db?.drop();
});

/** A message requested and submitted at `submittedAt`, its receipt delivered when asked. */
function alertSubmittedAt(submittedAt: number, delivered = false): { id: string; events: PigeonEvent[] } {
  const id = newId(submittedAt - 1000);
  const requested: MessageRequested = {
    ...eventBase(id, tenant, submittedAt - 1000),
    type: 'message.requested',
    to: '+14155550123',
    body: 'db-1 is down',
    class: 'alert',
    lane: 'high',
    segments: 1,
    encoding: 'GSM-7',
    expiresAt: new Date(submittedAt + 600_000).toISOString(),
    acceptDeadline: new Date(submittedAt).toISOString(),
  };
  const events: PigeonEvent[] = [
    requested,
    {
      ...eventBase(id, tenant, submittedAt),
      type: 'message.submitted',
      provider: 'sim-a',
      providerMessageId: `SIM-${id}`,
      attempt: 1,
      segments: 1,
      cost: 0.0075,
      latencyMs: 30,
      class: 'alert',
    },
  ];
  if (delivered) events.push(receipt(id, submittedAt + 5_000));
  return { id, events };
}

function receipt(id: string, at: number): PigeonEvent {
  return {
    ...eventBase(id, tenant, at),
    type: 'receipt.received',
    provider: 'sim-a',
    providerMessageId: `SIM-${id}`,
    status: 'delivered',
    providerStatus: 'DELIVRD',
  };
}

async function publish(...events: PigeonEvent[]): Promise<void> {
  for (const event of events) {
    const topic =
      event.type === 'message.requested'
        ? topics.lane
        : event.type === 'receipt.received'
          ? topics.receipts
          : topics.outcomes;
    await bus.publish(topic, [{ key: event.messageId, value: JSON.stringify(event) }]);
  }
}

/** The verified callbacks the tenant received about a message, by status, in arrival order. */
function callbacksAbout(id: string): string[] {
  return receiver.requests
    .filter((r) => r.verified)
    .map((r) => JSON.parse(r.body) as { messageId: string; status: string })
    .filter((body) => body.messageId === id)
    .map((body) => body.status);
}

async function counted(registry: ReturnType<typeof createRegistry>): Promise<number> {
  const metric = await registry.getSingleMetric('pigeon_persister_receipt_deadline_total')?.get();
  return metric?.values.find((v) => v.labels.class === 'alert')?.value ?? 0;
}

test('a message whose receipt never comes ends unknown once, with one status callback', async () => {
  const now = Date.now();
  const stuck = alertSubmittedAt(now - 2 * HOUR);
  const delivered = alertSubmittedAt(now - 2 * HOUR, true);
  const recent = alertSubmittedAt(now - HOUR / 2);
  await publish(...stuck.events, ...delivered.events, ...recent.events);
  await waitFor(
    async () =>
      (await store.getMessage(tenant, stuck.id))?.status === 'submitted' &&
      (await store.getMessage(tenant, delivered.id))?.status === 'delivered' &&
      (await store.getMessage(tenant, recent.id))?.status === 'submitted',
    30_000,
    'the three messages stored',
  );
  await waitFor(() => callbacksAbout(stuck.id).includes('submitted'), 30_000, 'the submitted callback');

  // Two persisters sweeping at the same moment.
  const registries = [createRegistry('persister'), createRegistry('persister')];
  const sweeps = registries.map((registry) =>
    startReceiptSweep({
      store,
      bus,
      logger,
      registry,
      deadlines,
      topic: topics.outcomes,
      intervalMs: 86_400_000,
      pauseMs: 0,
    }),
  );
  try {
    const ended = await Promise.all(sweeps.map((sweep) => sweep.runOnce()));
    for (const [i, registry] of registries.entries()) {
      assert.ok(ended[i]! >= 1, 'each sweep found the stuck message');
      assert.equal(await counted(registry), ended[i]);
    }
    await waitFor(
      async () => (await store.getMessage(tenant, stuck.id))?.status === 'unknown',
      30_000,
      'the stuck message unknown',
    );
    assert.deepEqual(
      await store
        .overdueReceipts({ messageClass: 'alert', submittedBefore: Date.now() - HOUR, limit: 10 })
        .then((rows) => rows.filter((r) => r.tenantId === tenant)),
      [],
    );
  } finally {
    await Promise.all(sweeps.map((sweep) => sweep.close()));
  }

  const message = await store.getMessage(tenant, stuck.id);
  assert.equal(message?.errorCode, 'receipt_deadline');
  assert.equal(message?.provider, 'sim-a');
  assert.equal((await store.getMessage(tenant, delivered.id))?.status, 'delivered');
  assert.equal((await store.getMessage(tenant, recent.id))?.status, 'submitted', 'still within its deadline');
  const history = await store.listEvents(tenant, stuck.id);
  assert.deepEqual(
    history.map((e) => e.status),
    ['queued', 'submitted', 'unknown'],
  );
  assert.deepEqual(
    (await store.listAttempts(tenant, stuck.id)).map((a) => a.outcome),
    ['submitted'],
    "the provider's attempt is not turned into a failure",
  );

  // The receipt comes after all; the deadline's events were ahead of it in the message's partition,
  // so once its callback is in, every deadline callback that would ever be made has been.
  await publish(receipt(stuck.id, Date.now()));
  await waitFor(() => callbacksAbout(stuck.id).includes('delivered'), 30_000, 'the delivered callback');
  // Deliveries may reorder (the payload says so); each status is called back once.
  assert.deepEqual(callbacksAbout(stuck.id).sort(), ['delivered', 'submitted', 'unknown']);
  // The callbacks and the persister are separate consumer groups: the callback may come first.
  await waitFor(
    async () => (await store.getMessage(tenant, stuck.id))?.status === 'delivered',
    30_000,
    'the late receipt stored',
  );
  assert.deepEqual(callbacksAbout(delivered.id).sort(), ['delivered', 'submitted']);
});
