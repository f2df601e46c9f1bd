/**
 * On-call paging through the whole embedded gateway: a roster set up over the admin API,
 * Alertmanager posting with a key of its own, the page travelling the normal path (high lane,
 * bridge, simulated provider, receipt) to the on-call member's phone — once, however often the
 * alert is posted — and the resolved notice after it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apiKeyRecord, generateApiKey } from '../../api/src/api-keys.ts';
import { loadConfig } from '../../core/config.ts';
import { type EmbeddedGateway, startEmbedded } from '../../bin/embedded.ts';
import { createLogger } from '../../core/logger.ts';
import { freePort } from '../support/ports.ts';
import { sleep, waitFor } from '../support/wait.ts';

const ON_CALL = '+14155550188';
const BACKUP = '+14155550189';

/** The reference Alertmanager v4 payload, as Alertmanager sends it. */
function alertmanager(status: 'firing' | 'resolved') {
  const alert = {
    status,
    labels: {
      alertname: 'ProbeFailure',
      instance: 'https://server.example.org',
      job: 'http_checks',
      monitor: 'master',
      severity: 'critical',
    },
    annotations: {
      description: 'Instance https://server.example.org has been down for over 5m. Job: http_checks',
      summary: 'BlackBox Probe Failure: https://server.example.org',
    },
    startsAt: '2023-02-06T13:08:45.828Z',
    endsAt: status === 'resolved' ? '2023-02-06T13:38:45.828Z' : '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1',
    fingerprint: '1a30ba71cca2921f',
  };
  return {
    receiver: 'sms',
    status,
    alerts: [alert],
    groupLabels: { alertname: 'ProbeFailure' },
    commonLabels: alert.labels,
    commonAnnotations: alert.annotations,
    externalURL: 'http://prometheus.example.org:9093',
    version: '4',
    groupKey: '{}/{severity="critical"}:{alertname="ProbeFailure"}',
    truncatedAlerts: 0,
  };
}

describe('on-call paging, embedded gateway', () => {
  let gateway: EmbeddedGateway;
  let base: string;
  let adminKey: string;
  const alertsKey = generateApiKey();

  const request = (method: string, path: string, key: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const outbox = async (to: string) =>
    (
      (await (await request('GET', `/simulator/messages?to=${encodeURIComponent(to)}`, adminKey)).json()) as {
        messages: Array<{ body: string; messageId: string }>;
      }
    ).messages;

  before(async () => {
    const port = await freePort();
    gateway = await startEmbedded(
      loadConfig(
        {
          PORT: String(port),
          PIGEON_DATA_DIR: mkdtempSync(join(tmpdir(), 'pigeon-oncall-')),
          LOG_LEVEL: 'silent',
        },
        { mode: 'embedded' },
      ),
      createLogger({ level: 'silent' }),
    );
    base = `http://127.0.0.1:${port}`;
    adminKey = gateway.api.apiKey!;
    await gateway.context
      .store()
      .putApiKey(
        apiKeyRecord(alertsKey, gateway.context.config.bootstrapTenant, ['alerts:write'], 'alertmanager'),
      );
  });

  after(async () => {
    await gateway.close();
  });

  test('a roster is created, read back with who is on call, and changed with an override', async () => {
    const put = await request('PUT', '/v1/admin/oncall/default', adminKey, {
      timezone: 'America/New_York',
      members: [
        { name: 'ana', phone: ON_CALL },
        { name: 'bo', phone: BACKUP },
      ],
      rotation: { period: 'daily', handoffTime: '09:00', start: '2026-01-05' },
      escalation: { afterMinutes: 10 },
    });
    assert.equal(put.status, 201, await put.clone().text());
    const at = await request('GET', '/v1/admin/oncall/default?at=2026-01-06T15:00:00Z', adminKey);
    const view = (await at.json()) as {
      onCall: { member: string; until: string };
      escalationChain: string[];
    };
    assert.deepEqual(view.onCall, { member: 'bo', source: 'rotation', until: '2026-01-07T14:00:00.000Z' });
    assert.deepEqual(view.escalationChain, ['bo', 'ana']);

    // From now on ana covers, whatever the rotation says.
    const override = await request('POST', '/v1/admin/oncall/default/overrides', adminKey, {
      member: 'ana',
      from: new Date(Date.now() - 60_000).toISOString(),
      to: new Date(Date.now() + 86_400_000).toISOString(),
    });
    assert.equal(override.status, 201);
    const now = (await (await request('GET', '/v1/admin/oncall/default', adminKey)).json()) as {
      onCall: { member: string; source: string };
    };
    assert.deepEqual([now.onCall.member, now.onCall.source], ['ana', 'override']);

    const bad = await request('PUT', '/v1/admin/oncall/broken', adminKey, {
      timezone: 'Mars/Base',
      members: [{ name: 'x', phone: '12345' }],
      rotation: { period: 'daily', handoffTime: '09:00', start: '2026-01-05' },
    });
    assert.equal(bad.status, 400);
    const problem = (await bad.json()) as { code: string; errors: Array<{ field: string }> };
    assert.equal(problem.code, 'PIGEON_ERR_VALIDATION');
    assert.deepEqual(problem.errors.map((e) => e.field).sort(), ['/members/0/phone', '/timezone']);
  });

  test('an Alertmanager payload posted three times reaches the on-call outbox once', async () => {
    const responses = await Promise.all(
      [1, 2, 3].map(() => request('POST', '/v1/alerts/alertmanager', alertsKey, alertmanager('firing'))),
    );
    const results = await Promise.all(
      responses.map(async (r) => {
        assert.equal(r.status, 200);
        return ((await r.json()) as { results: Array<{ result: string; via?: string; pageId?: string }> })
          .results[0]!;
      }),
    );
    assert.deepEqual(results.map((r) => r.result).sort(), ['duplicate', 'duplicate', 'paged']);
    const paged = results.find((r) => r.result === 'paged')!;
    assert.equal(paged.via, 'bus');

    await waitFor(async () => (await outbox(ON_CALL)).length > 0, 10_000, 'the page in the outbox');
    // Once more, later, as Alertmanager's repeat would.
    assert.equal(
      (
        (await (
          await request('POST', '/v1/alerts/alertmanager', alertsKey, alertmanager('firing'))
        ).json()) as { results: Array<{ result: string }> }
      ).results[0]!.result,
      'duplicate',
    );
    await sleep(1000);
    const pages = await outbox(ON_CALL);
    assert.equal(pages.length, 1, 'exactly one SMS');
    assert.match(
      pages[0]!.body,
      /^\[FIRING critical\] BlackBox Probe Failure: https:\/\/server\.example\.org - Instance/,
    );
    assert.ok(pages[0]!.body.endsWith(`Ack: page ${paged.pageId}`));
    assert.equal((await outbox(BACKUP)).length, 0);

    // The page is an ordinary alert-class message on the high lane, with its status history.
    const page = (await (await request('GET', `/v1/alerts/${paged.pageId}`, alertsKey)).json()) as {
      deliveries: Array<{ messageId: string }>;
    };
    let message: { class?: string; lane?: string; status?: string } = {};
    await waitFor(
      async () => {
        message = (await (
          await request('GET', `/v1/messages/${page.deliveries[0]!.messageId}`, adminKey)
        ).json()) as typeof message;
        return message.status === 'delivered';
      },
      10_000,
      'the page delivered',
    );
    assert.deepEqual([message.class, message.lane], ['alert', 'high']);
  });

  test('the resolved notice reaches the same phone once', async () => {
    const responses = await Promise.all(
      [1, 2].map(() => request('POST', '/v1/alerts/alertmanager', alertsKey, alertmanager('resolved'))),
    );
    const results = await Promise.all(
      responses.map(
        async (r) => ((await r.json()) as { results: Array<{ result: string }> }).results[0]!.result,
      ),
    );
    assert.deepEqual(results.sort(), ['duplicate', 'resolved']);
    await waitFor(async () => (await outbox(ON_CALL)).length >= 2, 10_000, 'the resolved notice');
    await sleep(500);
    const pages = await outbox(ON_CALL);
    assert.equal(pages.length, 2);
    assert.match(pages[0]!.body, /^\[RESOLVED\] BlackBox Probe Failure/);
  });

  test('metrics count the alerts by result and never show a phone number', async () => {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /pigeon_oncall_alerts_total\{[^}]*status="firing"[^}]*result="duplicate"[^}]*\} 3/);
    assert.match(metrics, /pigeon_oncall_pages_total\{[^}]*kind="page"[^}]*via="bus"[^}]*\} 1/);
    assert.doesNotMatch(metrics, /1415555018/);
    const openapi = (await (await fetch(`${base}/docs/json`)).json()) as { paths: Record<string, unknown> };
    for (const path of ['/v1/alerts/alertmanager', '/v1/alerts/{id}/ack', '/v1/admin/oncall/{name}']) {
      assert.ok(openapi.paths[path], path);
    }
  });
});
