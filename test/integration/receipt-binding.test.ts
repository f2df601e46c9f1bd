/**
 * Receipts are bound to the provider that carried the message: through the receipt webhook with
 * real adapters (signatures checked), a bridge dispatcher that records whom it handed a message
 * to, and a persister writing to SQLite, all on the in-memory bus. The persister's own defence
 * against a receipt event without a tenant is shown in callbacks.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/src/app.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { Readiness } from '../../core/health.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageRequested, ReceiptReceived } from '../../core/message.ts';
import { buildMessageRequested } from '../../core/message-request.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { LANE_TOPICS, Topics } from '../../core/topics.ts';
import { type PersisterHandle, startPersister } from '../../persister/src/persister.ts';
import type { ProviderAdapter } from '../../providers/provider.ts';
import { signSimulatorReceipt, SimulatorProvider } from '../../providers/simulator.ts';
import { createTwilio, TWILIO_REFERENCE_PARAM } from '../../providers/twilio.ts';
import type { Dispatcher } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import { signTwilio, startTwilioFake, type TwilioFake } from '../fakes/twilio-fake.ts';
import { fixedDispatcher } from '../support/fixed-dispatcher.ts';
import { freePort } from '../support/ports.ts';
import { testDeps } from '../support/provider-testing.ts';
import { waitFor } from '../support/wait.ts';

const TENANT = 'tenant-a';
const SECRET = 'receipt-binding-simulator-secret';
const AUTH_TOKEN = 'pigeon-twilio-auth-token-0001';

describe('receipts bound to the provider that carried the message', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let bus: MemoryBus;
  let cache: MemoryCache;
  let persister: PersisterHandle;
  let dispatcher: Dispatcher;
  let twilioDispatcher: Dispatcher;
  let twilioFake: TwilioFake;
  let sim: SimulatorProvider;
  let publicUrl: string;
  const apiRegistry = createRegistry('api');
  /** Every receipt event the webhook published, in order. */
  const published: ReceiptReceived[] = [];

  before(async () => {
    const logger = createLogger({ level: 'silent' });
    store = new SqliteStore(':memory:');
    await store.migrate();
    cache = new MemoryCache({ sweepIntervalMs: 0 });
    bus = new MemoryBus({ logger });
    // One partition per topic: receipts are seen in the order they were published.
    await bus.ensureTopics(topicSpecs(1));
    // Takes every message and never reports on it: the receipts here are the test's to post.
    sim = new SimulatorProvider('sim', {
      secret: SECRET,
      outbox: cache,
      logger,
      faults: [{ fault: 'silent' }],
    });
    twilioFake = await startTwilioFake({
      accountSid: `AC${'0123456789abcdef'.repeat(2)}`,
      authToken: AUTH_TOKEN,
    });
    const twilio = createTwilio(
      'twilio-main',
      {
        accountSid: twilioFake.accountSid,
        authToken: AUTH_TOKEN,
        baseUrl: twilioFake.url,
        from: '+15005550006',
      },
      testDeps(),
    );
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    dispatcher = fixedDispatcher(
      [{ adapter: sim, weight: 1, definition: { name: 'sim', type: 'simulator' } }],
      { cache, logger, registry: createRegistry('supplier-bridge') },
      { publicUrl },
    );
    twilioDispatcher = fixedDispatcher(
      [
        {
          adapter: twilio,
          weight: 1,
          definition: { name: 'twilio-main', type: 'twilio', breaker: { timeoutMs: 500 } },
        },
      ],
      { cache, logger, registry: createRegistry('supplier-bridge') },
      { publicUrl },
    );
    persister = await startPersister({ bus, store, logger, registry: createRegistry('persister') });
    await bus.subscribe({
      groupId: 'receipt-observer',
      topics: [Topics.receipts],
      handler: async (batch) => {
        for (const record of batch.records) published.push(JSON.parse(record.value) as ReceiptReceived);
      },
    });
    app = await buildApi({
      logger,
      bus,
      store,
      cache,
      registry: apiRegistry,
      readiness: new Readiness(),
      providers: new Map<string, ProviderAdapter>([
        ['sim', sim],
        ['twilio-main', twilio],
      ]),
      publicUrl,
      publishTimeoutMs: 1000,
      simulatorEnabled: false,
    });
    await app.listen({ port, host: '127.0.0.1' });
  });

  after(async () => {
    await app.close();
    await persister.close();
    await dispatcher.close();
    await twilioDispatcher.close();
    await twilioFake.close();
    await sim.close();
    await bus.close();
    await store.close();
    await cache.close();
  });

  /** Hands a message to a provider as the bridge does, and waits until the outcome is stored. */
  async function sentThrough(via: Dispatcher, status: string) {
    const now = Date.now();
    const message = buildMessageRequested(
      { to: '+14155550123', body: 'Your parcel is on its way' },
      { tenantId: TENANT, messageId: newId(now), now, publishTimeoutMs: 1000 },
    );
    await bus.publish(LANE_TOPICS[message.lane], [
      { key: message.messageId, value: JSON.stringify(message) },
    ]);
    const { outcome } = await via.dispatch(message, {
      kind: 'send',
      round: 0,
      appendedAt: now,
      exclude: [],
      attemptsSoFar: 0,
    });
    assert.ok(outcome, 'the pass decided');
    await bus.publish(Topics.outcomes, [{ key: message.messageId, value: JSON.stringify(outcome) }]);
    await waitForStatus(message.messageId, status);
    return { message, outcome };
  }

  /** Sends a message through the simulator, which takes it and never reports: stored `submitted`. */
  async function sentThroughSimulator(): Promise<{ message: MessageRequested; providerMessageId: string }> {
    const { message, outcome } = await sentThrough(dispatcher, 'submitted');
    assert.equal(outcome.type, 'message.submitted');
    return { message, providerMessageId: outcome.providerMessageId };
  }

  async function waitForStatus(messageId: string, status: string): Promise<void> {
    await waitFor(
      async () => (await store.getMessage(TENANT, messageId))?.status === status,
      5_000,
      `message ${messageId} stored ${status}`,
    );
  }

  function simulatorReceipt(fields: { id: string; reference?: string; status: string }) {
    const body = JSON.stringify({ ...fields, code: fields.status.toUpperCase() });
    const timestamp = String(Date.now());
    return app.inject({
      method: 'POST',
      url: '/v1/receipts/sim',
      headers: {
        'content-type': 'application/json',
        'x-simulator-timestamp': timestamp,
        'x-simulator-signature': signSimulatorReceipt(SECRET, timestamp, body),
      },
      payload: body,
    });
  }

  /** A status callback exactly as Twilio signs it, to the URL carrying `pigeonRef`. */
  function twilioReceipt(reference: string, status: string) {
    const url = `/v1/receipts/twilio-main?${TWILIO_REFERENCE_PARAM}=${encodeURIComponent(reference)}`;
    const params = { MessageSid: `SM${'ab'.repeat(16)}`, MessageStatus: status, ErrorCode: '30003' };
    return app.inject({
      method: 'POST',
      url,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signTwilio(AUTH_TOKEN, `${publicUrl}${url}`, params),
      },
      payload: new URLSearchParams(params).toString(),
    });
  }

  const counted = async (provider: string, result: string) => {
    const metric = await apiRegistry.getSingleMetric('pigeon_api_receipts_total')!.get();
    return (
      metric.values.find((v) => v.labels.provider === provider && v.labels.result === result)?.value ?? 0
    );
  };

  /**
   * Posts a receipt that must match, and waits until the observer saw it: receipts go to one
   * partition in order, so anything published before it would have been seen too.
   */
  async function publishedUpTo(messageId: string, providerMessageId: string): Promise<ReceiptReceived[]> {
    const response = await simulatorReceipt({ id: providerMessageId, status: 'delivered' });
    assert.equal(response.statusCode, 200, response.body);
    await waitFor(
      () => published.some((e) => e.messageId === messageId),
      5_000,
      'the matching receipt published',
    );
    return published.splice(0);
  }

  test('a signed receipt naming a message nobody sent is acknowledged, counted unmatched and leaves no row', async () => {
    const { message, providerMessageId } = await sentThroughSimulator();
    const before = await counted('sim', 'unmatched');
    const stranger = newId();

    const response = await simulatorReceipt({ id: 'SIMnobody', reference: stranger, status: 'delivered' });

    assert.equal(response.statusCode, 200, 'acknowledged, so the provider does not retry it forever');
    assert.deepEqual(response.json(), { received: 0 });
    assert.equal(await counted('sim', 'unmatched'), before + 1);
    const seen = await publishedUpTo(message.messageId, providerMessageId);
    assert.deepEqual(
      seen.map((e) => e.messageId),
      [message.messageId],
      'nothing was published for it',
    );
    assert.equal(await store.getMessage('', stranger), undefined, 'no message row without a tenant');
    assert.equal(await store.getMessage(TENANT, stranger), undefined);
  });

  test('a correctly signed Twilio receipt naming a message the simulator carried changes nothing', async () => {
    const { message, providerMessageId } = await sentThroughSimulator();
    const history = await store.listEvents(TENANT, message.messageId);
    const before = await counted('twilio-main', 'unmatched');

    const response = await twilioReceipt(message.messageId, 'undelivered');

    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.body, '<Response/>');
    assert.equal(await counted('twilio-main', 'unmatched'), before + 1);
    assert.equal(await counted('twilio-main', 'accepted'), 0);
    assert.equal((await store.getMessage(TENANT, message.messageId))?.status, 'submitted');
    assert.deepEqual(await store.listEvents(TENANT, message.messageId), history, 'no history entry');
    // The carrier's own receipt, posted after it, is the only one published.
    const seen = await publishedUpTo(message.messageId, providerMessageId);
    assert.deepEqual(
      seen.map((e) => e.provider),
      ['sim'],
    );
    await waitForStatus(message.messageId, 'delivered');
  });

  test('the carrier’s receipts still match, by its message id and by our reference', async () => {
    const byId = await sentThroughSimulator();
    const byReference = await sentThroughSimulator();

    const first = await simulatorReceipt({ id: byId.providerMessageId, status: 'delivered' });
    // A part id the bridge never learnt (say the answer was lost), with our id echoed as reference.
    const second = await simulatorReceipt({
      id: 'SIMunknownpart',
      reference: byReference.message.messageId,
      status: 'undelivered',
    });

    assert.deepEqual(first.json(), { received: 1 });
    assert.deepEqual(second.json(), { received: 1 });
    await waitForStatus(byId.message.messageId, 'delivered');
    await waitForStatus(byReference.message.messageId, 'undelivered');
    const receipt = (await store.listEvents(TENANT, byReference.message.messageId)).at(-1)!;
    assert.equal(receipt.type, 'receipt.received');
    assert.equal(receipt.provider, 'sim');
    assert.equal(receipt.tenantId, TENANT, 'the tenant comes from what the bridge recorded');
    published.splice(0);
  });

  test('a Twilio receipt for a message Twilio took but never answered for matches by our reference', async () => {
    await twilioFake.setFault({ kind: 'acceptThenHang' });
    const { message, outcome } = await sentThrough(twilioDispatcher, 'unknown');
    await twilioFake.setFault(undefined);
    assert.equal(outcome.type, 'message.failed', 'the bridge never learnt the sid');
    const sid = twilioFake.accepted.at(-1)!.sid;

    // Posted to the StatusCallback the adapter gave Twilio, which carries pigeonRef.
    const posted = await twilioFake.sendReceipt(sid, 'delivered');

    assert.equal(posted.status, 200, posted.body);
    await waitForStatus(message.messageId, 'delivered');
    const receipt = (await store.listEvents(TENANT, message.messageId)).at(-1)!;
    assert.equal(receipt.type, 'receipt.received');
    assert.equal(receipt.provider, 'twilio-main');
    assert.equal(receipt.providerMessageId, sid);
    published.splice(0);
  });
});
