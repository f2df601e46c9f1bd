/**
 * On-call pages with Kafka stopped: the API cannot publish (nothing listens on the broker's port),
 * so `POST /v1/alerts/alertmanager` pages the on-call member straight through a provider adapter
 * and the page reaches the phone — here the simulator's outbox — all the same.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { buildApi } from '../../api/src/app.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import { createRegistry } from '../../core/metrics.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';
import { SimulatorProvider, simulatorFaultKey } from '../../providers/simulator.ts';

// Port 1 has no listener: connections are refused at once, as with a stopped broker.
const STOPPED_KAFKA = ['127.0.0.1:1'];
const PUBLISH_TIMEOUT_MS = 800;
const ON_CALL = '+14155550166';

const alertmanager = (status: 'firing' | 'resolved') => ({
  version: '4',
  groupKey: '{}:{alertname="KafkaDown"}',
  truncatedAlerts: 0,
  status,
  receiver: 'pigeon-oncall',
  groupLabels: { alertname: 'KafkaDown' },
  commonLabels: { alertname: 'KafkaDown', severity: 'critical' },
  commonAnnotations: {
    summary: 'Kafka brokers unreachable',
    description: 'No broker answered for 2 minutes.',
  },
  externalURL: 'http://alertmanager.example.org:9093',
  alerts: [
    {
      status,
      labels: { alertname: 'KafkaDown', severity: 'critical' },
      annotations: { summary: 'Kafka brokers unreachable', description: 'No broker answered for 2 minutes.' },
      startsAt: '2026-01-05T10:00:00.000Z',
      endsAt: status === 'resolved' ? '2026-01-05T10:30:00.000Z' : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example.org:9090/graph?g0.expr=up%7Bjob%3D%22kafka%22%7D+%3D%3D+0',
      fingerprint: 'b7c0f2a9d41e33aa',
    },
  ],
});

describe('on-call pages with Kafka stopped', () => {
  let app: FastifyInstance;
  let bus: KafkaBus;
  let store: SqliteStore;
  const cache = new MemoryCache();
  const logger = createLogger({ level: 'silent' });
  const adminKey = generateApiKey();
  const alertsKey = generateApiKey();
  const sendKey = generateApiKey();
  const simulator = new SimulatorProvider('sim-pages', {
    secret: 's',
    outbox: cache,
    logger,
    latencyMs: 5,
    faults: [{ fault: 'silent' }],
  });

  const call = (method: 'GET' | 'POST' | 'PUT', url: string, key: string, payload?: unknown) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
      ...(payload ? { payload } : {}),
    });
  const outbox = async () =>
    (await call('GET', `/simulator/messages?to=${encodeURIComponent(ON_CALL)}`, adminKey)).json<{
      messages: Array<{ body: string; provider: string; messageId: string }>;
    }>().messages;

  before(async () => {
    bus = new KafkaBus({ brokers: STOPPED_KAFKA, clientId: 'oncall-kafka-down-test' });
    store = new SqliteStore(':memory:');
    await store.migrate();
    await store.putApiKey(apiKeyRecord(adminKey, 'ops', ['admin'], 'admin'));
    await store.putApiKey(apiKeyRecord(alertsKey, 'ops', ['alerts:write'], 'alertmanager'));
    await store.putApiKey(apiKeyRecord(sendKey, 'ops', ['messages:write'], 'app'));
    const readiness = new Readiness();
    readiness.add('bus', () => bus.ping());
    app = await buildApi({
      logger,
      bus,
      store,
      cache,
      registry: createRegistry('api'),
      readiness,
      providers: new Map([['sim-pages', simulator]]),
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
      simulatorEnabled: true,
      oncall: { directProviders: () => [{ name: 'sim-pages', adapter: simulator }], escalationIntervalMs: 0 },
    });
    const roster = await call('PUT', '/v1/admin/oncall/default', adminKey, {
      timezone: 'Europe/London',
      members: [
        { name: 'ana', phone: ON_CALL },
        { name: 'bo', phone: '+14155550167' },
      ],
      rotation: { period: 'weekly', handoffDay: 'monday', handoffTime: '09:00', start: '2026-01-05' },
      // Whatever today is, ana is on call.
      overrides: [{ member: 'ana', from: '2020-01-01T00:00:00Z', to: '2099-01-01T00:00:00Z' }],
      escalation: { afterMinutes: 5 },
    });
    assert.equal(roster.statusCode, 201, roster.body);
  });

  after(async () => {
    await app.close();
    // The bound's timer is unref'd: once the bus has closed it must not hold the process 5 s more.
    await Promise.race([bus.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
    await store.close();
    await simulator.close();
  });

  test('ordinary messages get 503: Kafka really is down', async () => {
    const response = await call('POST', '/v1/messages', sendKey, { to: ON_CALL, body: 'hello' });
    assert.equal(response.statusCode, 503);
    assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_BUS_UNAVAILABLE');
  });

  test('an Alertmanager page still reaches the on-call phone, straight through the provider', async () => {
    const started = Date.now();
    const response = await call('POST', '/v1/alerts/alertmanager', alertsKey, alertmanager('firing'));
    const elapsed = Date.now() - started;
    assert.equal(response.statusCode, 200, response.body);
    const [result] = response.json<{ results: Array<{ result: string; via: string; pageId: string }> }>()
      .results;
    assert.deepEqual([result!.result, result!.via], ['paged', 'direct']);
    assert.ok(elapsed < PUBLISH_TIMEOUT_MS + 2000, `answered in ${elapsed} ms`);

    const pages = await outbox();
    assert.equal(pages.length, 1);
    assert.equal(pages[0]!.provider, 'sim-pages');
    assert.match(
      pages[0]!.body,
      /^\[FIRING critical\] Kafka brokers unreachable - No broker answered for 2 minutes\. Ack: page /,
    );

    const page = await call('GET', `/v1/alerts/${result!.pageId}`, alertsKey);
    assert.equal(page.statusCode, 200);
    const view = page.json<{
      status: string;
      chain: string[];
      deliveries: Array<{ via: string; provider: string }>;
    }>();
    assert.deepEqual(
      [view.status, view.deliveries[0]!.via, view.deliveries[0]!.provider],
      ['open', 'direct', 'sim-pages'],
    );
    assert.doesNotMatch(page.body, /\+1415555016/, 'the page view shows members by name, not number');
  });

  test('posted again (Alertmanager retries, its replicas each send) it does not page twice', async () => {
    const responses = await Promise.all(
      [1, 2, 3].map(() => call('POST', '/v1/alerts/alertmanager', alertsKey, alertmanager('firing'))),
    );
    for (const r of responses)
      assert.equal(r.json<{ results: Array<{ result: string }> }>().results[0]!.result, 'duplicate');
    assert.equal((await outbox()).length, 1);
  });

  test('acknowledged over the API; the resolved notice goes out directly too', async () => {
    const pageId = (await store.findPages('ops', 'b7c0f2a9d41e33aa', ['open']))[0]!.id;
    const ack = await call('POST', `/v1/alerts/${pageId}/ack`, alertsKey, { by: 'ana' });
    assert.equal(ack.statusCode, 200, ack.body);
    assert.equal(ack.json<{ status: string }>().status, 'acknowledged');

    const resolved = await call('POST', '/v1/alerts/alertmanager', alertsKey, alertmanager('resolved'));
    assert.equal(
      resolved.json<{ results: Array<{ result: string; via: string }> }>().results[0]!.via,
      'direct',
    );
    const pages = await outbox();
    assert.equal(pages.length, 2);
    assert.match(pages[0]!.body, /^\[RESOLVED\] Kafka brokers unreachable \(page /);
  });

  test('with the provider down as well, the answer is 503 PAGE_FAILED so Alertmanager retries', async () => {
    await cache.set(simulatorFaultKey('sim-pages'), JSON.stringify({ fault: 'down' }));
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const response = await call('POST', '/v1/alerts/alertmanager', alertsKey, {
        title: 'Disk full on db-1',
        severity: 'critical',
        status: 'firing',
      });
      assert.equal(response.statusCode, 503);
      assert.equal(response.headers['retry-after'], '5');
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_PAGE_FAILED');
    } finally {
      await cache.del(simulatorFaultKey('sim-pages'));
    }
  });

  test('scopes: the alerts key can only post alerts; other keys cannot page', async () => {
    assert.equal(
      (await call('POST', '/v1/alerts/alertmanager', sendKey, alertmanager('firing'))).statusCode,
      403,
    );
    assert.equal((await call('GET', '/v1/admin/oncall', alertsKey)).statusCode, 403);
    assert.equal((await call('POST', '/v1/messages', alertsKey, { to: ON_CALL, body: 'x' })).statusCode, 403);
    assert.equal(
      (await call('POST', '/v1/alerts/alertmanager', 'pgn_notarealkeynotarealkey000', {})).statusCode,
      401,
    );
  });
});
