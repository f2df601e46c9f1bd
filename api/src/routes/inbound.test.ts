import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { MemoryBus } from '../../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { Readiness } from '../../../core/health.ts';
import { newId } from '../../../core/ids.ts';
import { createLogger } from '../../../core/logger.ts';
import { createRegistry } from '../../../core/metrics.ts';
import type { PageRecord } from '../../../core/oncall.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import type { IncidentRecord } from '../../../core/store/kinds/alerts.ts';
import type { ProviderAdapter } from '../../../providers/provider.ts';
import { signSimulatorReceipt, SimulatorProvider } from '../../../providers/simulator.ts';
import { createTwilio } from '../../../providers/twilio.ts';
import { signTwilio } from '../../../test/fakes/twilio-fake.ts';
import { testDeps } from '../../../test/support/provider-testing.ts';
import { freePort } from '../../../test/support/ports.ts';
import { apiKeyRecord, generateApiKey } from '../api-keys.ts';
import { buildApi } from '../app.ts';
import { smsAlertRecipients } from '../inbound/intake.ts';

const ONCALL = '+447400123456';
const PAGED = '+447400111222';
const STRANGER = '+447400999888';
const OUR_NUMBER = '+15005550006';
const SECRET = 'simulator-secret';
const AUTH_TOKEN = 'pigeon-twilio-auth-token-0001';
const T0 = Date.now();

function incident(overrides: Partial<IncidentRecord> = {}): IncidentRecord {
  const id = newId();
  return {
    id,
    ruleId: 'delivered-rate-drop',
    fingerprint: `delivered-rate-drop:${id}`,
    state: 'firing',
    severity: 'critical',
    labels: { provider: 'twilio', country: 'GB' },
    startedAt: T0,
    firedAt: T0,
    resolvedAt: null,
    ackCode: '4821',
    ackedAt: null,
    ackedBy: null,
    detail: { id, metric: 'delivered_rate', labels: {}, state: 'firing', value: 0.4 },
    updatedAt: T0,
    ...overrides,
  };
}

function page(): PageRecord {
  return {
    id: newId(),
    tenantId: 'tenant-a',
    roster: 'default',
    fingerprint: `fp-${newId()}`,
    status: 'open',
    severity: 'critical',
    title: 'Database down',
    level: 0,
    chain: [{ name: 'ana', phone: PAGED }],
    deliveries: [],
    createdAt: T0,
    escalateAt: null,
    acknowledgedAt: null,
    acknowledgedBy: null,
    resolvedAt: null,
    updatedAt: T0,
  };
}

describe('inbound SMS: acknowledgement by reply', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let publicUrl: string;
  const registry = createRegistry('api');
  /** A key of the simulator scope: replies are played through `/simulator/replies`. */
  const simulatorKey = generateApiKey();

  before(async () => {
    store = new SqliteStore(':memory:');
    await store.migrate();
    await store.putApiKey(apiKeyRecord(simulatorKey, 'tenant-a', ['simulator'], 'test'));
    const cache = new MemoryCache();
    const logger = createLogger({ level: 'silent' });
    const providers = new Map<string, ProviderAdapter>([
      ['sim', new SimulatorProvider('sim', { secret: SECRET, outbox: cache, logger })],
      [
        'twilio-main',
        createTwilio(
          'twilio-main',
          {
            accountSid: `AC${'0123456789abcdef'.repeat(2)}`,
            authToken: AUTH_TOKEN,
            baseUrl: 'http://127.0.0.1:1',
            from: OUR_NUMBER,
          },
          testDeps(),
        ),
      ],
    ]);
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    app = await buildApi({
      logger,
      bus: new MemoryBus(),
      store,
      cache,
      registry,
      readiness: new Readiness(),
      providers,
      publicUrl,
      publishTimeoutMs: 1000,
      simulatorEnabled: true,
      oncall: { escalationIntervalMs: 0 },
      inbound: {
        pageTenant: 'tenant-a',
        isIncidentRecipient: smsAlertRecipients(
          [{ name: 'oncall-sms', type: 'sms', to: [ONCALL], provider: 'sim' }],
          store,
          'tenant-a',
        ),
      },
    });
    await app.listen({ port, host: '127.0.0.1' });
  });

  after(async () => {
    await app.close();
    await store.close();
  });

  const reply = async (from: string, body: string) => {
    const response = await app.inject({
      method: 'POST',
      url: '/simulator/replies',
      headers: { authorization: `Bearer ${simulatorKey}` },
      payload: { provider: 'sim', from, to: OUR_NUMBER, body },
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().status as number;
  };

  const counted = async (result: string) => {
    const metric = await registry.getSingleMetric('pigeon_api_inbound_sms_total')!.get();
    return metric.values.find((v) => v.labels.provider === 'sim' && v.labels.result === result)?.value ?? 0;
  };

  test('"ACK <code>" from a number incidents go to acknowledges the incident', async () => {
    const open = incident();
    await store.putIncidents([open]);
    assert.equal(await reply(STRANGER, 'ACK 4821'), 200, 'answered, but a stranger acknowledges nothing');
    assert.equal((await store.getIncident(open.id))!.ackedAt, null);
    assert.equal(await reply(ONCALL, '  ack 4821 on it'), 200);
    const acked = (await store.getIncident(open.id))!;
    assert.notEqual(acked.ackedAt, null);
    assert.match(acked.ackedBy!, /^sms:\+44.*\*/, 'stored masked');
    assert.doesNotMatch(acked.ackedBy!, /7400123456/);
  });

  test('"ACK <page id>" from a member the page went to acknowledges the page', async () => {
    const record = page();
    await store.insertPage(record);
    assert.equal(await reply(ONCALL, `ACK ${record.id}`), 200);
    assert.equal((await store.getPage('tenant-a', record.id))!.status, 'open', 'not paged to that number');
    assert.equal(await reply(PAGED, `ACK ${record.id}`), 200);
    const acked = (await store.getPage('tenant-a', record.id))!;
    assert.equal(acked.status, 'acknowledged');
    assert.match(acked.acknowledgedBy!, /^sms:/);
  });

  test('an unknown code or another message is answered 200 and acknowledges nothing', async () => {
    const open = incident({ ackCode: '5555' });
    await store.putIncidents([open]);
    const unmatched = await counted('unmatched');
    const ignored = await counted('ignored');
    assert.equal(await reply(ONCALL, 'ACK 9999'), 200);
    assert.equal(await reply(ONCALL, 'hello, is this thing on?'), 200);
    assert.equal((await store.getIncident(open.id))!.ackedAt, null);
    assert.equal(await counted('unmatched'), unmatched + 1);
    assert.equal(await counted('ignored'), ignored + 1);
  });

  test('a post not signed by the provider is refused', async () => {
    const body = JSON.stringify({ id: 'SIMIN1', from: ONCALL, to: OUR_NUMBER, text: 'ACK 4821' });
    const timestamp = String(Date.now());
    const response = await app.inject({
      method: 'POST',
      url: '/v1/inbound/sim',
      headers: {
        'content-type': 'application/json',
        'x-simulator-timestamp': timestamp,
        'x-simulator-signature': signSimulatorReceipt('forged', timestamp, body),
      },
      payload: body,
    });
    assert.equal(response.statusCode, 403, response.body);
  });

  test('Twilio gets empty TwiML for a signed incoming message', async () => {
    const params = { MessageSid: `SM${'cd'.repeat(16)}`, From: STRANGER, To: OUR_NUMBER, Body: 'STOP' };
    const response = await app.inject({
      method: 'POST',
      url: '/v1/inbound/twilio-main',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signTwilio(AUTH_TOKEN, `${publicUrl}/v1/inbound/twilio-main`, params),
      },
      payload: new URLSearchParams(params).toString(),
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.body, '<Response/>');
    assert.match(String(response.headers['content-type']), /text\/xml/);
  });
});
