import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { newId } from '../../../core/ids.ts';
import type { SqliteStore } from '../../../core/store/sqlite-store.ts';
import type { IncidentRecord } from '../../../core/store/kinds/alerts.ts';
import type { AlertingSetup } from '../../../alerting/config.ts';
import { defaultRules } from '../../../alerting/default-rules.ts';
import { startTestApi, type TestApi, type TestMethod } from '../../../test/support/api-harness.ts';
import { generateApiKey } from '../api-keys.ts';
import { ackCodeOf, alertAdminRoutes } from './alerts-admin.ts';

const T0 = 1_767_225_600_000;

describe('alerting API: rules, silences, incidents', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let api: TestApi;
  const clock = { now: T0 };
  const adminKey = generateApiKey();
  const oncallKey = generateApiKey();
  const senderKey = generateApiKey();
  const setup: AlertingSetup = {
    channels: ['ops-chat', 'oncall-sms'],
    policies: [{ id: 'default', steps: [{ afterMs: 600_000, channels: ['oncall-sms'] }] }],
    layers: {
      defaults: defaultRules(),
      config: [{ id: 'breaker-open', metric: 'breaker_state', above: 1.5, severity: 'critical' }],
    },
    defaultChannels: ['ops-chat'],
    canary: undefined,
  };

  before(async () => {
    api = await startTestApi({
      keys: [
        { key: adminKey, tenant: 'tenant-a', scopes: ['admin'], label: 'ops' },
        { key: oncallKey, tenant: 'tenant-a', scopes: ['alerts:write'], label: 'pager' },
        { key: senderKey, tenant: 'tenant-a', scopes: ['messages:write'], label: 'app' },
      ],
      deps: { publishTimeoutMs: 1000 },
    });
    ({ app, store } = api);
    await app.register(alertAdminRoutes, {
      store,
      setup,
      now: () => clock.now,
    });
  });

  after(() => api.close());

  const call = (method: TestMethod, url: string, payload?: unknown, key = adminKey) =>
    api.call(method, url, key, payload);

  test('rules and silences need the admin scope; incidents alerts:write', async () => {
    assert.equal((await call('GET', '/v1/alerts/rules', undefined, senderKey)).statusCode, 403);
    assert.equal((await call('GET', '/v1/alerts/rules', undefined, oncallKey)).statusCode, 403);
    assert.equal((await call('GET', '/v1/alerts/silences', undefined, oncallKey)).statusCode, 403);
    assert.equal((await call('GET', '/v1/alerts/incidents', undefined, senderKey)).statusCode, 403);
    assert.equal((await call('GET', '/v1/alerts/incidents', undefined, oncallKey)).statusCode, 200);
    assert.equal((await call('GET', '/v1/alerts/incidents', undefined, adminKey)).statusCode, 200);
    assert.equal((await call('GET', '/v1/alerts/rules', undefined, 'pgn_nope')).statusCode, 401);
  });

  test('the rules in force: shipped, configured and written here, each saying where it comes from', async () => {
    const put = await call('PUT', '/v1/alerts/rules/service-down', {
      metric: 'service_instances',
      below: 1,
      severity: 'critical',
      enabled: false,
    });
    assert.equal(put.statusCode, 201);
    assert.equal(
      (await call('PUT', '/v1/alerts/rules/service-down', put.json())).statusCode,
      400,
      'no source field',
    );
    const again = await call('PUT', '/v1/alerts/rules/service-down', {
      metric: 'service_instances',
      below: 1,
      severity: 'warning',
      enabled: false,
    });
    assert.equal(again.statusCode, 200);
    const rules = (await call('GET', '/v1/alerts/rules')).json().rules as Array<Record<string, unknown>>;
    const byId = Object.fromEntries(rules.map((r) => [r.id, r]));
    assert.equal(byId['service-down']!.source, 'api');
    assert.equal(byId['service-down']!.enabled, false);
    assert.equal(byId['breaker-open']!.source, 'config');
    assert.equal(byId['breaker-open']!.severity, 'critical');
    assert.equal(byId['delivered-rate-drop']!.source, 'default');
    assert.equal((await call('DELETE', '/v1/alerts/rules/service-down')).statusCode, 204);
    assert.equal((await call('DELETE', '/v1/alerts/rules/service-down')).statusCode, 404);
    const back = (await call('GET', '/v1/alerts/rules')).json().rules as Array<Record<string, unknown>>;
    assert.equal(back.find((r) => r.id === 'service-down')!.source, 'default');
  });

  test('a rule is checked against its metric and the configured channels and escalations', async () => {
    const bad = await call('PUT', '/v1/alerts/rules/x', {
      metric: 'delivered_rate',
      below: 0.5,
      by: ['service'],
      channels: ['nowhere'],
      severity: 'warning',
    });
    assert.equal(bad.statusCode, 400);
    const problem = bad.json();
    assert.equal(problem.code, 'PIGEON_ERR_VALIDATION');
    assert.match(problem.detail, /no label "service"/);
    assert.match(problem.detail, /no channel named "nowhere"/);
    const unknownMetric = await call('PUT', '/v1/alerts/rules/x', {
      metric: 'nope',
      below: 1,
      severity: 'info',
    });
    assert.equal(unknownMetric.statusCode, 400);
  });

  test('a silence is created for a duration, listed while in force, and ended early', async () => {
    const created = await call('POST', '/v1/alerts/silences', {
      matchers: { provider: 'twilio', country: 'GB' },
      duration: '2h',
      comment: 'carrier maintenance',
    });
    assert.equal(created.statusCode, 201);
    const silence = created.json();
    assert.equal(silence.endsAt, new Date(T0 + 7_200_000).toISOString());
    assert.match(silence.createdBy, /^key:/);
    const listed = (await call('GET', '/v1/alerts/silences')).json().silences as Array<{ id: string }>;
    assert.ok(listed.some((s) => s.id === silence.id));
    assert.equal((await call('DELETE', `/v1/alerts/silences/${silence.id}`)).statusCode, 204);
    const after = (await call('GET', '/v1/alerts/silences')).json().silences as Array<{ id: string }>;
    assert.ok(!after.some((s) => s.id === silence.id));
    const allResponse = await call('GET', '/v1/alerts/silences?all=true');
    assert.equal(allResponse.statusCode, 200, allResponse.body);
    const all = allResponse.json().silences as Array<{ id: string }>;
    assert.ok(all.some((s) => s.id === silence.id));
    assert.equal((await call('DELETE', `/v1/alerts/silences/${newId()}`)).statusCode, 404);
    const both = await call('POST', '/v1/alerts/silences', {
      matchers: { rule: 'x' },
      duration: '1h',
      endsAt: new Date(T0 + 1).toISOString(),
      comment: 'c',
    });
    assert.equal(both.statusCode, 400);
    const past = await call('POST', '/v1/alerts/silences', {
      matchers: { rule: 'x' },
      endsAt: new Date(T0 - 1).toISOString(),
      comment: 'c',
    });
    assert.equal(past.statusCode, 400);
  });

  function incident(overrides: Partial<IncidentRecord> = {}): IncidentRecord {
    const id = newId(T0);
    return {
      id,
      ruleId: 'delivered-rate-drop',
      fingerprint: `delivered-rate-drop{country=GB,provider=twilio}-${id}`,
      state: 'firing',
      severity: 'critical',
      labels: { provider: 'twilio', country: 'GB' },
      startedAt: T0,
      firedAt: T0 + 30_000,
      resolvedAt: null,
      ackCode: '4821',
      ackedAt: null,
      ackedBy: null,
      detail: {
        id,
        metric: 'delivered_rate',
        labels: { provider: 'twilio', country: 'GB' },
        state: 'firing',
        value: 0.41,
        worstValue: 0.41,
        baseline: 0.96,
        threshold: 0.576,
        samples: 300,
      },
      updatedAt: T0,
      ...overrides,
    };
  }

  test('incidents are listed and acknowledged by id or by an SMS reply with their code', async () => {
    const open = incident();
    const done = incident({ ackCode: '1111', state: 'resolved', resolvedAt: T0 + 90_000 });
    await store.putIncidents([open, done]);
    const listed = (await call('GET', '/v1/alerts/incidents', undefined, oncallKey)).json().incidents;
    assert.deepEqual(
      listed.map((i: { id: string }) => i.id),
      [open.id],
      'open ones by default',
    );
    assert.equal(listed[0].title, 'Delivered rate of twilio to GB is 41 % (baseline 96 %)');
    const allResponse = await call('GET', '/v1/alerts/incidents?state=all', undefined, oncallKey);
    assert.equal(allResponse.statusCode, 200, allResponse.body);
    const all = allResponse.json().incidents;
    assert.equal(all.length, 2);

    const reply = await call(
      'POST',
      '/v1/alerts/incidents/replies',
      { text: 'ack 4821 looking', from: '+447400123456' },
      oncallKey,
    );
    assert.equal(reply.statusCode, 200);
    assert.equal(reply.json().id, open.id);
    assert.match(reply.json().acknowledgedBy, /^sms:\+44.*\*/, 'stored masked');
    assert.doesNotMatch(reply.json().acknowledgedBy, /7400123456/);
    assert.equal(reply.json().acknowledgedAt, new Date(T0).toISOString());

    const byId = await call('POST', `/v1/alerts/incidents/${open.id}/ack`, { by: 'ana' }, oncallKey);
    assert.equal(byId.statusCode, 200);
    assert.match(byId.json().acknowledgedBy, /^sms:/, 'the first acknowledgement stands');

    assert.equal((await call('POST', `/v1/alerts/incidents/${done.id}/ack`, {}, oncallKey)).statusCode, 409);
    assert.equal((await call('POST', `/v1/alerts/incidents/${newId()}/ack`, {}, oncallKey)).statusCode, 404);
    const noCode = await call('POST', '/v1/alerts/incidents/replies', { text: 'on it' }, oncallKey);
    assert.equal(noCode.statusCode, 400);
    const staleCode = await call('POST', '/v1/alerts/incidents/replies', { text: 'ACK 1111' }, oncallKey);
    assert.equal(staleCode.statusCode, 404, 'a resolved incident’s code names nothing');
    assert.equal(
      (await call('GET', `/v1/alerts/incidents/${open.id}`, undefined, oncallKey)).json().ackCode,
      '4821',
    );
  });

  test('an acknowledgement code is the first four digits standing alone', () => {
    assert.equal(ackCodeOf('ACK 4821'), '4821');
    assert.equal(ackCodeOf('ack4821'), '4821');
    assert.equal(ackCodeOf('4821'), '4821');
    assert.equal(ackCodeOf('call me at 123456'), undefined);
    assert.equal(ackCodeOf('nope'), undefined);
  });
});
