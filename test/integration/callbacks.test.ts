/**
 * Status callbacks end to end inside one process: the persister consumes the in-process bus and
 * fills the callback outbox, the worker delivers from a SQLite outbox to local receivers that
 * verify signatures as a customer would. The worker's clock is injected, so retries are driven
 * by time without waiting for it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { PigeonError } from '../../core/errors.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested, MessageSubmitted, PigeonEvent, ReceiptReceived } from '../../core/message.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import { type CallbacksHandle, startCallbacks } from '../../persister/src/callbacks/callbacks.ts';
import { outboxWriter } from '../../persister/src/callbacks/outbox-writer.ts';
import { type PersisterHandle, startPersister } from '../../persister/src/persister.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../fakes/callback-receiver.ts';
import { freePort } from '../support/ports.ts';
import { sleep, waitFor } from '../support/wait.ts';

const SECRETS: Record<string, string> = {};
const secretOf = (tenant: string) => (SECRETS[tenant] ??= `whsec_${tenant}_${newId()}`);

interface Harness {
  bus: MemoryBus;
  store: SqliteStore;
  clock: { now: number };
  callbacks: CallbacksHandle;
  persister: PersisterHandle;
  registry: ReturnType<typeof createRegistry>;
  /** Stops the services and the store, keeping the bus (Kafka outlives a persister). */
  stop(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function harness(
  options: {
    bus?: MemoryBus;
    file?: string;
    clock?: { now: number };
    timeoutMs?: number;
    perHost?: number;
    concurrency?: number;
    /** The outbox's first this many writes fail as a database that went away would. */
    outboxOutages?: number;
  } = {},
): Promise<Harness> {
  const bus = options.bus ?? new MemoryBus();
  await bus.ensureTopics(topicSpecs(3));
  const store = new SqliteStore(options.file ?? ':memory:');
  await store.migrate();
  const clock = options.clock ?? { now: Date.now() };
  const registry = createRegistry('persister');
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const callbacks = startCallbacks({
    store,
    logger,
    registry,
    settings: {
      timeoutMs: options.timeoutMs ?? 2_000,
      concurrency: options.concurrency ?? 16,
      perHost: options.perHost ?? 4,
      maxAgeMs: 24 * 3_600_000,
      keepMs: 72 * 3_600_000,
      allowPrivateNetworks: true,
    },
    now: () => clock.now,
    random: () => 0.5,
    pollMs: 10,
    housekeepingMs: 50,
  });
  const persister = await startPersister({
    bus,
    store,
    logger,
    registry,
    groupId: 'persister',
    retry: { initialMs: 20, maxMs: 100 },
    outbox: outboxWriter({
      store: flakyOutbox(store, options.outboxOutages ?? 0),
      registry,
      maxAgeMs: 24 * 3_600_000,
      now: () => clock.now,
    }),
  });
  let stopped = false;
  const h: Harness = {
    bus,
    store,
    clock,
    callbacks,
    persister,
    registry,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await callbacks.close();
      await persister.close();
      await store.close();
    },
  };
  cleanups.push(async () => {
    await h.stop();
    if (!options.bus) await bus.close();
  });
  return h;
}

/** The store, whose first `outages` outbox writes fail as they do while the database is away. */
function flakyOutbox(store: SqliteStore, outages: number): SqliteStore {
  let left = outages;
  return Object.assign(Object.create(store) as SqliteStore, {
    enqueueCallbacks: async (deliveries: Parameters<SqliteStore['enqueueCallbacks']>[0]) => {
      if (left > 0) {
        left--;
        throw new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE', 'database unavailable');
      }
      return store.enqueueCallbacks(deliveries);
    },
  });
}

async function receiver(tenant: string, clock?: { now: number }): Promise<CallbackReceiver> {
  const r = await startCallbackReceiver({
    secret: secretOf(tenant),
    ...(clock ? { now: () => clock.now } : {}),
  });
  cleanups.push(() => r.close());
  return r;
}

async function webhook(h: Harness, tenant: string, url: string | null): Promise<void> {
  const at = Date.now();
  await h.store.putWebhook({ tenantId: tenant, url, secret: secretOf(tenant), createdAt: at, updatedAt: at });
}

/** One message's life as the bridge and a carrier report it, with the event ids. */
function lifeOf(tenant: string, statusCallback?: string, at = Date.now()) {
  const messageId = newId();
  const requested: MessageRequested = {
    ...eventBase(messageId, tenant, at),
    type: 'message.requested',
    to: '+14155550123',
    body: 'hello',
    class: 'transactional',
    lane: 'normal',
    segments: 1,
    encoding: 'GSM-7',
    expiresAt: new Date(at + 86_400_000).toISOString(),
    acceptDeadline: new Date(at + 2_000).toISOString(),
    ...(statusCallback ? { statusCallback } : {}),
  };
  const submitted: MessageSubmitted = {
    ...eventBase(messageId, tenant, at + 100),
    type: 'message.submitted',
    provider: 'sim-a',
    providerMessageId: `SIM-${messageId}`,
    attempt: 1,
    segments: 1,
    cost: 0.0075,
    latencyMs: 20,
  };
  // Receipts learn their tenant from the marker the bridge wrote; without one none is published.
  const delivered: ReceiptReceived = {
    ...eventBase(messageId, tenant, at + 900),
    type: 'receipt.received',
    provider: 'sim-a',
    providerMessageId: `SIM-${messageId}`,
    status: 'delivered',
    providerStatus: 'DELIVRD',
  };
  return { messageId, requested, submitted, delivered };
}

async function publish(bus: MemoryBus, ...events: PigeonEvent[]): Promise<void> {
  for (const event of events) {
    const topic =
      event.type === 'message.requested'
        ? LANE_TOPICS[event.lane]
        : event.type === 'receipt.received'
          ? Topics.receipts
          : Topics.outcomes;
    await bus.publish(topic, [{ key: event.messageId, value: JSON.stringify(event) }]);
  }
}

/** Publishes the request and waits until the persister stored it, as normally happens first. */
async function requested(h: Harness, event: MessageRequested): Promise<void> {
  await publish(h.bus, event);
  await waitFor(async () => (await h.store.callbackTargets([event.messageId]))[0]?.requested === true);
}

async function metric(h: Harness, name: string, labels: Record<string, string> = {}): Promise<number> {
  const found = (await h.registry.getSingleMetric(name)?.get())?.values.find((v) =>
    Object.entries(labels).every(([k, value]) => v.labels[k] === value),
  );
  return found?.value ?? 0;
}

describe('status callbacks', () => {
  test('each status change reaches the tenant webhook, signed so the customer can verify it', async () => {
    const h = await harness();
    const hooks = await receiver('acme');
    await webhook(h, 'acme', `${hooks.url}/pigeon/events?source=sms`);
    const m = lifeOf('acme');
    await requested(h, m.requested);
    await publish(h.bus, m.submitted, m.delivered);
    await waitFor(() => hooks.events.size === 2, 5_000, 'two callbacks');

    assert.ok(hooks.requests.every((r) => r.verified && r.status === 204));
    assert.deepEqual(hooks.events.get(m.submitted.id), {
      id: m.submitted.id,
      type: 'message.submitted',
      messageId: m.messageId,
      status: 'submitted',
      final: false,
      occurredAt: m.submitted.occurredAt,
      provider: 'sim-a',
      providerMessageId: `SIM-${m.messageId}`,
      segments: 1,
      cost: 0.0075,
    });
    const delivered = hooks.events.get(m.delivered.id);
    assert.equal(delivered?.type, 'message.delivered');
    assert.equal(delivered?.final, true);
    const first = hooks.requests[0]!;
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers['pigeon-delivery-attempt'], '1');
    assert.ok([m.submitted.id, m.delivered.id].includes(String(first.headers['pigeon-event-id'])));
    assert.match(String(first.headers['pigeon-signature']), /^t=\d+,v1=[0-9a-f]{64}$/);
    await waitFor(
      async () => (await metric(h, 'pigeon_callbacks_deliveries_total', { result: 'delivered' })) === 2,
    );
  });

  test('an outbox write that fails holds its batch: retried with it, each status called back once', async () => {
    const h = await harness({ outboxOutages: 3 });
    const hooks = await receiver('acme');
    await webhook(h, 'acme', hooks.url);
    const m = lifeOf('acme');
    await requested(h, m.requested);
    await publish(h.bus, m.submitted, m.delivered);
    await waitFor(() => hooks.events.size === 2, 5_000, 'two callbacks');
    // The failed writes were the database's: the persister counted them and wrote the batch again.
    assert.ok((await metric(h, 'pigeon_persister_write_failures_total', { kind: 'unavailable' })) >= 3);
    await waitFor(
      async () => (await metric(h, 'pigeon_callbacks_deliveries_total', { result: 'delivered' })) === 2,
    );
    await sleep(200);
    assert.equal(hooks.requests.length, 2, 'each once');
    assert.equal((await h.store.getMessage('acme', m.messageId))?.status, 'delivered');
  });

  test("a message's own statusCallback replaces the webhook; other tenants hear nothing of it", async () => {
    const h = await harness();
    const acmeHooks = await receiver('acme');
    const ownEndpoint = await receiver('acme');
    const globexHooks = await receiver('globex');
    await webhook(h, 'acme', acmeHooks.url);
    await webhook(h, 'globex', globexHooks.url);
    const own = lifeOf('acme', `${ownEndpoint.url}/orders/42/sms`);
    const plain = lifeOf('acme');
    const theirs = lifeOf('globex');
    const silent = lifeOf('initech'); // no webhook, no secret: no callbacks at all
    for (const m of [own, plain, theirs, silent]) await requested(h, m.requested);
    for (const m of [own, plain, theirs, silent]) await publish(h.bus, m.submitted, m.delivered);
    await waitFor(
      () => ownEndpoint.events.size === 2 && acmeHooks.events.size === 2 && globexHooks.events.size === 2,
      5_000,
      'callbacks to every endpoint',
    );
    await sleep(200);
    const ids = (r: CallbackReceiver) => new Set([...r.events.values()].map((e) => e.messageId));
    assert.deepEqual(ids(ownEndpoint), new Set([own.messageId]));
    assert.deepEqual(ids(acmeHooks), new Set([plain.messageId]));
    assert.deepEqual(ids(globexHooks), new Set([theirs.messageId]));
    assert.equal(ownEndpoint.requests.length + acmeHooks.requests.length + globexHooks.requests.length, 6);
    assert.equal((await h.store.callbackBacklog()).pending, 0, 'nothing left, nothing queued for initech');
  });

  test('a status that overtakes its request waits in the outbox and goes out once the request is stored', async () => {
    const h = await harness();
    const hooks = await receiver('acme');
    const ownEndpoint = await receiver('acme');
    await webhook(h, 'acme', hooks.url);
    const m = lifeOf('acme', `${ownEndpoint.url}/cb`);
    // The receipt arrives before the persister saw the request (its lane is backed up).
    await publish(h.bus, m.delivered);
    await waitFor(async () => (await h.store.callbackBacklog()).pending === 1, 5_000, 'an unresolved row');
    await sleep(300);
    assert.equal(ownEndpoint.requests.length + hooks.requests.length, 0, 'not sent anywhere yet');
    await requested(h, m.requested);
    // The worker looks again 2 s after it last found no request.
    h.clock.now += 2_000;
    await waitFor(() => ownEndpoint.events.size === 1, 5_000, 'the callback at the message URL');
    assert.equal(hooks.requests.length, 0, 'not to the webhook: the message named its own URL');
    assert.equal(ownEndpoint.events.get(m.delivered.id)?.status, 'delivered');
  });

  test("the message's clientRef and metadata are echoed in its callbacks, also in one that overtook the request", async () => {
    const h = await harness();
    const hooks = await receiver('acme');
    await webhook(h, 'acme', hooks.url);
    const m = lifeOf('acme');
    const early = lifeOf('acme');
    // The receipt arrives before the persister saw the request (its lane is backed up).
    await publish(h.bus, early.delivered);
    await waitFor(async () => (await h.store.callbackBacklog()).pending === 1, 5_000, 'an unresolved row');
    await requested(h, { ...m.requested, clientRef: 'order-4711', metadata: { userId: 'u-42' } });
    await requested(h, { ...early.requested, clientRef: 'order-4712', metadata: { flow: 'signup' } });
    await publish(h.bus, m.submitted, m.delivered);
    // The worker looks again for the early row's request 2 s after it last found none.
    h.clock.now += 2_000;
    await waitFor(() => hooks.events.size === 3, 5_000, 'three callbacks');

    assert.ok(
      hooks.requests.every((r) => r.verified),
      'signed over the body with the reference',
    );
    for (const id of [m.submitted.id, m.delivered.id]) {
      assert.equal(hooks.events.get(id)?.clientRef, 'order-4711');
      assert.deepEqual(hooks.events.get(id)?.metadata, { userId: 'u-42' });
    }
    assert.equal(hooks.events.get(early.delivered.id)?.clientRef, 'order-4712');
    assert.deepEqual(hooks.events.get(early.delivered.id)?.metadata, { flow: 'signup' });
  });

  test('failed attempts are retried after 5, 10 and 20 s by the clock, with the same id and body', async () => {
    const clock = { now: Date.parse('2026-03-01T09:00:00Z') };
    const h = await harness({ clock });
    const hooks = await receiver('acme', clock);
    await webhook(h, 'acme', hooks.url);
    await hooks.setMode('error');
    const m = lifeOf('acme');
    const t0 = clock.now;
    await requested(h, m.requested);
    await publish(h.bus, m.delivered);
    // An attempt counts once its failure is recorded: the next one is scheduled from that instant.
    const failedAttempts = (n: number) =>
      waitFor(
        async () => (await metric(h, 'pigeon_callbacks_deliveries_total', { result: 'retrying' })) === n,
        2_000,
        `${n} failed attempts recorded`,
      );
    await failedAttempts(1);

    const advanceTo = async (offset: number) => {
      clock.now = t0 + offset;
      await sleep(80);
    };
    await advanceTo(4_999);
    assert.equal(hooks.requests.length, 1, 'not before 5 s');
    await advanceTo(5_000);
    await failedAttempts(2);
    await advanceTo(14_999);
    assert.equal(hooks.requests.length, 2, 'not before 15 s');
    await advanceTo(15_000);
    await failedAttempts(3);
    await hooks.setMode('up');
    await advanceTo(34_999);
    assert.equal(hooks.requests.length, 3, 'not before 35 s');
    await advanceTo(35_000);
    await waitFor(() => hooks.events.size === 1, 2_000, 'fourth attempt at 35 s, delivered');

    assert.deepEqual(
      hooks.requests.map((r) => r.at - t0),
      [0, 5_000, 15_000, 35_000],
    );
    assert.deepEqual(
      hooks.requests.map((r) => r.headers['pigeon-delivery-attempt']),
      ['1', '2', '3', '4'],
    );
    assert.equal(new Set(hooks.requests.map((r) => r.body)).size, 1, 'the same body every time');
    assert.ok(hooks.requests.every((r) => r.headers['pigeon-event-id'] === m.delivered.id));
    assert.ok(
      hooks.requests.every((r) => r.verified),
      'each attempt signed afresh with the clock',
    );
    assert.equal(await metric(h, 'pigeon_callbacks_deliveries_total', { result: 'retrying' }), 3);
    assert.equal(await metric(h, 'pigeon_callbacks_deliveries_total', { result: 'delivered' }), 1);
    await sleep(100);
    clock.now = t0 + 3_600_000;
    await sleep(100);
    assert.equal(hooks.requests.length, 4, 'nothing after delivery');
  });

  test('a delivery still failing 24 h after its status change is given up', async () => {
    const clock = { now: Date.parse('2026-03-01T09:00:00Z') };
    const h = await harness({ clock });
    const hooks = await receiver('acme', clock);
    await webhook(h, 'acme', hooks.url);
    await hooks.setMode('error');
    const m = lifeOf('acme');
    const t0 = clock.now;
    await requested(h, m.requested);
    await publish(h.bus, m.delivered);
    await waitFor(
      async () => (await metric(h, 'pigeon_callbacks_deliveries_total', { result: 'retrying' })) === 1,
      5_000,
      'the first attempt failed and recorded',
    );
    clock.now = t0 + 24 * 3_600_000;
    await waitFor(() => hooks.requests.length === 2, 2_000, 'the last attempt, at the deadline');
    await waitFor(
      async () => (await metric(h, 'pigeon_callbacks_deliveries_total', { result: 'given_up' })) === 1,
    );
    clock.now = t0 + 48 * 3_600_000;
    await sleep(200);
    assert.equal(hooks.requests.length, 2, 'never again');
    assert.equal((await h.store.callbackBacklog()).pending, 0);
  });

  test('a status change read more than 24 h after it happened is not called back', async () => {
    const h = await harness();
    const hooks = await receiver('acme');
    await webhook(h, 'acme', hooks.url);
    const old = lifeOf('acme', undefined, Date.now() - 25 * 3_600_000);
    const fresh = lifeOf('acme');
    await requested(h, old.requested);
    await requested(h, fresh.requested);
    // A new consumer group reading the topics' history finds the old one first.
    await publish(h.bus, old.delivered, fresh.delivered);
    await waitFor(() => hooks.events.size === 1, 5_000, 'the fresh callback');
    await sleep(200);
    assert.deepEqual([...hooks.events.keys()], [fresh.delivered.id]);
    assert.equal(await metric(h, 'pigeon_callbacks_enqueued_total', { destination: 'too_old' }), 1);
  });

  test('a receipt event without a tenant is never called back, nor stored', async () => {
    const h = await harness();
    const hooks = await receiver('acme');
    await webhook(h, 'acme', hooks.url);
    const m = lifeOf('acme');
    const orphan: ReceiptReceived = { ...lifeOf('acme').delivered, tenantId: '' };
    await requested(h, m.requested);
    // Under the real receipt's key: one partition, so it is handled before the real one.
    await h.bus.publish(Topics.receipts, [
      { key: m.messageId, value: JSON.stringify(orphan) },
      { key: m.messageId, value: JSON.stringify(m.delivered) },
    ]);
    await waitFor(() => hooks.events.size === 1, 5_000, 'the real receipt called back');
    assert.deepEqual([...hooks.events.keys()], [m.delivered.id]);
    // The persister drops it before the outbox sees it.
    await waitFor(async () => (await metric(h, 'pigeon_persister_orphan_receipts_total')) === 1);
    assert.equal(await metric(h, 'pigeon_callbacks_enqueued_total', { destination: 'resolved' }), 1);
    assert.equal(await h.store.getMessage('', orphan.messageId), undefined);
  });

  test("an endpoint that hangs or refuses holds up neither other tenants' callbacks nor the outbox", async () => {
    // Up to 16 per host, but a host starts at 2 and earns more only by answering.
    const h = await harness({ timeoutMs: 3_000, perHost: 16, concurrency: 8 });
    const hanging = await receiver('hang-co');
    await hanging.setMode('hang');
    const refusedUrl = `http://127.0.0.1:${await freePort()}/hooks`;
    const live = await receiver('live-co');
    await webhook(h, 'hang-co', hanging.url);
    await webhook(h, 'refuse-co', refusedUrl);
    await webhook(h, 'live-co', live.url);

    const dead = [...Array(40).keys()].map((i) => lifeOf(i % 2 ? 'hang-co' : 'refuse-co'));
    for (const m of dead) await requested(h, m.requested);
    const started = Date.now();
    for (const m of dead) await publish(h.bus, m.submitted, m.delivered);
    // Everything is in the outbox at once: the consumer never waits on an endpoint.
    await waitFor(async () => (await h.store.callbackBacklog()).pending >= 80, 1_000, 'all enqueued');

    const alive = [...Array(10).keys()].map(() => lifeOf('live-co'));
    for (const m of alive) await requested(h, m.requested);
    const published = Date.now();
    for (const m of alive) await publish(h.bus, m.submitted, m.delivered);
    await waitFor(() => live.events.size === 20, 2_500, "the live tenant's 20 callbacks");
    const liveTook = Date.now() - published;
    assert.ok(liveTook < 2_500, `live callbacks took ${liveTook} ms while others hang for 3 s`);
    assert.ok(
      hanging.requests.length <= 2,
      `at most 2 open at the hanging host, saw ${hanging.requests.length}`,
    );
    assert.ok(Date.now() - started < 3_000, 'all of it before the first hanging attempt timed out');
    // The pipeline kept going too: the persister stored every message of every tenant.
    await waitFor(async () => {
      for (const m of [...dead, ...alive]) {
        if ((await h.store.getMessage(m.requested.tenantId, m.messageId))?.status !== 'delivered')
          return false;
      }
      return true;
    }, 2_000);
  });

  test('callbacks are delivered at least once across a restart, including ones a dead worker held', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pigeon-callbacks-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'pigeon.db');
    const bus = new MemoryBus();
    cleanups.push(() => bus.close());
    const clock = { now: Date.now() };
    const hooks = await receiver('acme');
    await hooks.setMode('refuse');

    const first = await harness({ bus, file, clock });
    await webhook(first, 'acme', hooks.url);
    const messages = [...Array(5).keys()].map(() => lifeOf('acme'));
    for (const m of messages) await requested(first, m.requested);
    for (const m of messages) await publish(bus, m.submitted, m.delivered);
    // The first attempts are refused, and the host is soon paused with the rest still waiting.
    await waitFor(
      async () =>
        (await metric(first, 'pigeon_callbacks_deliveries_total', { result: 'retrying' })) >= 3 &&
        (await first.store.callbackBacklog()).pending === 10,
      5_000,
      'attempts refused, all ten waiting',
    );
    await first.stop();

    // A worker that claimed two deliveries and died before sending them: its lease must run out.
    const store = new SqliteStore(file);
    const due = await store.dueCallbacks({ now: clock.now + 60_000, limit: 2, excludeHosts: [] });
    const leased = await store.claimCallbacks(
      due.map((d) => d.id),
      { now: clock.now + 60_000, leaseUntil: clock.now + 120_000, token: newId() },
    );
    assert.equal(leased.length, 2);
    await store.close();

    await hooks.setMode('up');
    const second = await harness({ bus, file, clock });
    clock.now += 60_000;
    await waitFor(() => hooks.events.size === 8, 5_000, 'the 8 not leased');
    await sleep(200);
    assert.equal(hooks.events.size, 8, 'the leased two wait for their lease');
    clock.now += 60_000;
    await waitFor(() => hooks.events.size === 10, 5_000, 'all 10 once the lease ended');
    const expected = messages.flatMap((m) => [m.submitted.id, m.delivered.id]);
    assert.deepEqual(new Set(hooks.events.keys()), new Set(expected));
    // The receiver has a delivery once it is asked; the store marks it delivered once the answer
    // is back, a moment later.
    await waitFor(
      async () => (await second.store.callbackBacklog()).pending === 0,
      5_000,
      'none left pending once all were answered',
    );
  });
});
