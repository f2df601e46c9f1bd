import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { MemoryBus } from '../../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { loadConfig } from '../../../core/config.ts';
import { Readiness } from '../../../core/health.ts';
import { createLogger } from '../../../core/logger.ts';
import { createRegistry } from '../../../core/metrics.ts';
import { HealthBoard, providerHealthEvent } from '../../../core/provider-health.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import type { ProviderDeps } from '../../../providers/provider.ts';
import { RoutingCatalog, seedRouting } from '../../../routing/catalog.ts';
import { SIMULATOR_ENV } from '../../../test/support/simulator-env.ts';
import { apiKeyRecord, generateApiKey } from '../api-keys.ts';
import { buildApi } from '../app.ts';
import { MASK } from '../../../providers/masking.ts';
import { adminRoutes } from './admin.ts';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('admin API: providers and routes', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  let catalog: RoutingCatalog;
  const health = new HealthBoard();
  const adminKey = generateApiKey();
  const senderKey = generateApiKey();

  before(async () => {
    store = new SqliteStore(':memory:');
    await store.migrate();
    await store.putApiKey(apiKeyRecord(adminKey, 'tenant-a', ['admin'], 'ops'));
    await store.putApiKey(
      apiKeyRecord(senderKey, 'tenant-a', ['messages:write', 'messages:read', 'pii:read'], 'app'),
    );
    const logger = createLogger({ level: 'silent' });
    const cache = new MemoryCache();
    const providerDeps: ProviderDeps = { config: loadConfig(SIMULATOR_ENV), cache, logger };
    await seedRouting(store, providerDeps);
    catalog = new RoutingCatalog({ store, providerDeps, closeGraceMs: 0, refreshMs: 60_000 });
    await catalog.start();
    app = await buildApi({
      logger,
      bus: new MemoryBus(),
      store,
      cache,
      registry: createRegistry('api'),
      readiness: new Readiness(),
      providers: catalog,
      publishTimeoutMs: 1000,
      simulatorEnabled: true,
    });
    await app.register(adminRoutes, {
      store,
      catalog,
      providerDeps,
      health,
    });
  });

  after(async () => {
    await app.close();
    await catalog.close();
    await store.close();
  });

  const call = (method: InjectOptions['method'], url: string, payload?: unknown, key = adminKey) =>
    app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${key}`,
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });

  test('every admin call needs a valid key with the admin scope', async () => {
    const calls: Array<[InjectOptions['method'], string, unknown]> = [
      ['GET', '/v1/admin/providers', undefined],
      ['PUT', '/v1/admin/providers/x', { type: 'simulator' }],
      ['DELETE', '/v1/admin/providers/sim-a', undefined],
      ['GET', '/v1/admin/routes', undefined],
      ['POST', '/v1/admin/routes', { tiers: [[{ provider: 'sim-a', weight: 1 }]] }],
      ['PUT', '/v1/admin/routes/abc', { tiers: [[{ provider: 'sim-a', weight: 1 }]] }],
      ['DELETE', '/v1/admin/routes/abc', undefined],
      ['POST', '/v1/admin/routes/simulate', { to: '+447400123456', class: 'otp' }],
    ];
    for (const [method, url, payload] of calls) {
      const forbidden = await call(method, url, payload, senderKey);
      assert.equal(forbidden.statusCode, 403, `${method} ${url}`);
      assert.match(String(forbidden.headers['content-type']), /application\/problem\+json/);
      assert.equal(forbidden.json<{ code: string }>().code, 'PIGEON_ERR_FORBIDDEN');
      const anonymous = await app.inject({ method, url });
      assert.equal(anonymous.statusCode, 401, `${method} ${url}`);
    }
    assert.equal((await call('GET', '/v1/admin/providers')).statusCode, 200);
    assert.equal((await store.listProviders()).length, 2, 'nothing was changed by refused calls');
  });

  test('lists the seeded providers', async () => {
    const response = await call('GET', '/v1/admin/providers');
    const { providers } = response.json<{
      providers: Array<{ name: string; enabled: boolean; updatedAt: string }>;
    }>();
    assert.deepEqual(
      providers.map((p) => [p.name, p.enabled]),
      [
        ['sim-a', true],
        ['sim-b', true],
      ],
    );
    assert.ok(!Number.isNaN(Date.parse(providers[0]!.updatedAt)));
  });

  test('options off the allowlist are masked when listed and kept when sent back masked', async () => {
    const created = await call('PUT', '/v1/admin/providers/acme', {
      type: 'simulator',
      weight: 2,
      prices: { GB: 0.03, '*': 0.05 },
      options: {
        latencyMs: 5,
        apiSecret: 'sekrit-1',
        authToken: 'tok-1',
        nested: { password: 'pw-1', region: 'eu' },
        accessKeyId: 'AKIA-1',
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const view = created.json<{ definition: { options: Record<string, unknown> } }>();
    assert.deepEqual(view.definition.options, {
      latencyMs: 5,
      apiSecret: MASK,
      authToken: MASK,
      nested: MASK,
      accessKeyId: MASK,
    });
    const listed = (await call('GET', '/v1/admin/providers')).body;
    assert.ok(!/sekrit|tok-1|pw-1|AKIA/.test(listed), 'no credential in the listing');

    // Sent back as read, with one credential changed: masked ones keep their stored value.
    const options = { ...view.definition.options, authToken: 'tok-2' };
    const replaced = await call('PUT', '/v1/admin/providers/acme', { type: 'simulator', weight: 3, options });
    assert.equal(replaced.statusCode, 200, replaced.body);
    const stored = (await store.listProviders()).find((p) => p.name === 'acme')!;
    assert.deepEqual(stored.definition, {
      name: 'acme',
      type: 'simulator',
      weight: 3,
      enabled: false,
      options: {
        latencyMs: 5,
        apiSecret: 'sekrit-1',
        authToken: 'tok-2',
        nested: { password: 'pw-1', region: 'eu' },
        accessKeyId: 'AKIA-1',
      },
    });
    assert.equal(catalog.definition('acme')?.weight, 3, 'this process sees the change at once');
  });

  test('credentials in URL userinfo, query values, a body template and any header come back masked', async () => {
    const options = {
      url: 'https://acme:url-pass-1@sms.example.com:8443/v1/send?api_user=acme&api_pwd=query-pass-1&to={{to}}',
      method: 'POST',
      headers: { 'X-Api-Credential': 'header-cred-1', Cookie: 'session=cookie-1' },
      body: '{"login":"acme","password":"body-pass-1","to":"{{to}}","text":"{{body}}"}',
      bodyEncoding: 'json',
      messageIdPath: 'id',
    };
    const created = await call('PUT', '/v1/admin/providers/leaky', { type: 'http', options });
    assert.equal(created.statusCode, 201, created.body);
    const listed = await call('GET', '/v1/admin/providers');
    assert.ok(
      !/url-pass|query-pass|header-cred|cookie-1|body-pass/.test(listed.body),
      'no credential in the listing',
    );
    const view = listed
      .json<{ providers: Array<{ name: string; definition: { options: Record<string, unknown> } }> }>()
      .providers.find((p) => p.name === 'leaky')!;
    assert.deepEqual(view.definition.options, {
      url: `https://${MASK}:${MASK}@sms.example.com:8443/v1/send?api_user=${MASK}&api_pwd=${MASK}&to={{to}}`,
      method: 'POST',
      headers: { 'X-Api-Credential': MASK, Cookie: MASK },
      body: MASK,
      bodyEncoding: 'json',
      messageIdPath: 'id',
    });

    // The listing sent back as read keeps every stored secret, position by position.
    const replaced = await call('PUT', '/v1/admin/providers/leaky', {
      type: 'http',
      options: { ...view.definition.options, method: 'PUT' },
    });
    assert.equal(replaced.statusCode, 200, replaced.body);
    const stored = (await store.listProviders()).find((p) => p.name === 'leaky')!;
    assert.deepEqual(stored.definition.options, { ...options, method: 'PUT' });

    // A masked query value whose stored neighbour at that position has another name is refused.
    const moved = await call('PUT', '/v1/admin/providers/leaky', {
      type: 'http',
      options: {
        ...view.definition.options,
        url: `https://${MASK}:${MASK}@sms.example.com:8443/v1/send?api_pwd=${MASK}&api_user=${MASK}`,
      },
    });
    assert.equal(moved.statusCode, 400, moved.body);
    assert.equal(moved.json<{ errors: Array<{ field: string }> }>().errors[0]!.field, '/options/url');
    assert.equal((await call('DELETE', '/v1/admin/providers/leaky')).statusCode, 204);
  });

  test('options nested deeper than 16 levels are refused with 400, not a stack overflow', async () => {
    const depth = 2_500;
    const deep = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    for (const stored of [false, true]) {
      if (stored) {
        assert.equal((await call('PUT', '/v1/admin/providers/deep', { type: 'simulator' })).statusCode, 201);
      }
      const response = await app.inject({
        method: 'PUT',
        url: '/v1/admin/providers/deep',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        payload: `{"type":"simulator","options":${deep}}`,
      });
      assert.equal(response.statusCode, 400, response.body);
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
      const problem = response.json<{ code: string; errors: Array<{ field: string }> }>();
      assert.equal(problem.code, 'PIGEON_ERR_VALIDATION');
      assert.equal(problem.errors[0]!.field, '/options');
    }
    const sixteen = JSON.parse(`${'{"a":'.repeat(16)}1${'}'.repeat(16)}`) as Record<string, unknown>;
    const fine = await call('PUT', '/v1/admin/providers/deep', { type: 'simulator', options: sixteen });
    assert.equal(fine.statusCode, 200, fine.body);
    assert.equal((await call('DELETE', '/v1/admin/providers/deep')).statusCode, 204);
  });

  test('an admin body over 64 KiB is refused with 413 problem+json', async () => {
    for (const [method, url] of [
      ['PUT', '/v1/admin/providers/big'],
      ['POST', '/v1/admin/routes'],
    ] as const) {
      const response = await call(method, url, { type: 'simulator', options: { pad: 'x'.repeat(70_000) } });
      assert.equal(response.statusCode, 413, `${method} ${url}`);
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_PAYLOAD_TOO_LARGE');
    }
    assert.equal(
      (await store.listProviders()).find((p) => p.name === 'big'),
      undefined,
    );
  });

  test('a provider added through the API stays out of routing until a PUT enables it', async () => {
    const plan = async () =>
      (await call('POST', '/v1/admin/routes/simulate', { to: '+14155550123', class: 'transactional' })).json<{
        order: string[];
      }>().order;
    const created = await call('PUT', '/v1/admin/providers/newcomer', { type: 'simulator', weight: 5 });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json<{ enabled: boolean }>().enabled, false);
    assert.ok(!(await plan()).includes('newcomer'), 'a new provider carries no traffic');

    const kept = await call('PUT', '/v1/admin/providers/newcomer', { type: 'simulator', weight: 6 });
    assert.equal(kept.json<{ enabled: boolean }>().enabled, false, 'a replacement keeps the stored state');

    const enabled = await call('PUT', '/v1/admin/providers/newcomer', { type: 'simulator', enabled: true });
    assert.equal(enabled.statusCode, 200, enabled.body);
    assert.equal(enabled.json<{ enabled: boolean }>().enabled, true);
    assert.ok((await plan()).includes('newcomer'), 'enabled, it joins the default route');
    const again = await call('PUT', '/v1/admin/providers/newcomer', { type: 'simulator', weight: 2 });
    assert.equal(again.json<{ enabled: boolean }>().enabled, true, 'and stays enabled when replaced');
    assert.equal((await call('DELETE', '/v1/admin/providers/newcomer')).statusCode, 204);
  });

  test('a sender id a provider or route would send from is checked like a message’s', async () => {
    const provider = await call('PUT', '/v1/admin/providers/crlf', {
      type: 'simulator',
      senderId: 'Pig\r\neon',
    });
    assert.equal(provider.statusCode, 400);
    assert.equal(provider.json<{ code: string }>().code, 'PIGEON_ERR_INVALID_SENDER');
    const route = await call('POST', '/v1/admin/routes', {
      tiers: [[{ provider: 'sim-a', weight: 1, senderId: '<b>X</b>' }]],
    });
    assert.equal(route.statusCode, 400);
    const problem = route.json<{ code: string; errors: Array<{ field: string }> }>();
    assert.equal(problem.code, 'PIGEON_ERR_INVALID_SENDER');
    assert.equal(problem.errors[0]!.field, '/tiers/0/0/senderId');
    const simulated = await call('POST', '/v1/admin/routes/simulate', {
      to: '+447400123456',
      class: 'otp',
      from: 'A\u0000B',
    });
    assert.equal(simulated.json<{ code: string }>().code, 'PIGEON_ERR_INVALID_SENDER');
    assert.equal(
      (await store.listProviders()).find((p) => p.name === 'crlf'),
      undefined,
    );
    assert.equal((await store.listRoutes()).length, 0);
  });

  test('a masked value with nothing stored behind it is refused', async () => {
    const response = await call('PUT', '/v1/admin/providers/fresh', {
      type: 'simulator',
      options: { apiKey: MASK },
    });
    assert.equal(response.statusCode, 400);
    const problem = response.json<{ code: string; errors: Array<{ field: string }> }>();
    assert.equal(problem.code, 'PIGEON_ERR_VALIDATION');
    assert.equal(problem.errors[0]!.field, '/options/apiKey');
  });

  test('a definition that does not build is refused with 400 naming the problem, and not stored', async () => {
    const response = await call('PUT', '/v1/admin/providers/bad', { type: 'carrier-pigeon' });
    assert.equal(response.statusCode, 400);
    const problem = response.json<{ code: string; detail: string }>();
    assert.equal(problem.code, 'PIGEON_ERR_VALIDATION');
    assert.match(problem.detail, /unknown type "carrier-pigeon"/);
    assert.equal(
      (await store.listProviders()).find((p) => p.name === 'bad'),
      undefined,
    );
  });

  test('unknown fields, bad prices and a body naming another provider are refused', async () => {
    for (const body of [
      { type: 'simulator', colour: 'blue' },
      { type: 'simulator', prices: { gb: 1 } },
      { type: 'simulator', weight: -1 },
      { type: 'simulator', name: 'other' },
    ]) {
      const response = await call('PUT', '/v1/admin/providers/strict', body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.equal(response.json<{ code: string }>().code, 'PIGEON_ERR_VALIDATION');
    }
    assert.equal((await call('PUT', '/v1/admin/providers/bad name', { type: 'simulator' })).statusCode, 400);
  });

  test('routes: create, list, replace and delete; the server assigns a ULID id', async () => {
    const created = await call('POST', '/v1/admin/routes', {
      name: 'UK OTP',
      country: 'GB',
      messageClass: 'otp',
      tiers: [[{ provider: 'sim-b', weight: 1, senderId: 'ACME' }], [{ provider: 'sim-a', weight: 1 }]],
    });
    assert.equal(created.statusCode, 201, created.body);
    const route = created.json<{ id: string; priority: number; strategy: string; enabled: boolean }>();
    assert.match(route.id, ULID);
    assert.deepEqual([route.priority, route.strategy, route.enabled], [100, 'weighted', true]);
    assert.ok(catalog.table().route(route.id), 'this process routes by it at once');

    const listed = (await call('GET', '/v1/admin/routes')).json<{
      routes: Array<{ id: string; name: string }>;
    }>();
    assert.deepEqual(
      listed.routes.map((r) => [r.id, r.name]),
      [[route.id, 'UK OTP']],
    );

    const replaced = await call('PUT', `/v1/admin/routes/${route.id}`, {
      name: 'UK OTP',
      country: 'GB',
      strategy: 'least_cost',
      qualityFloor: 0.8,
      priority: 10,
      tiers: [[{ provider: 'sim-a', weight: 1 }]],
    });
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.deepEqual(
      (({ id, priority, strategy, qualityFloor }) => ({ id, priority, strategy, qualityFloor }))(
        replaced.json<Record<string, unknown>>(),
      ),
      { id: route.id, priority: 10, strategy: 'least_cost', qualityFloor: 0.8 },
    );

    assert.equal(
      (
        await call('PUT', '/v1/admin/routes/01NOSUCHROUTE00000000000000', {
          tiers: [[{ provider: 'sim-a', weight: 1 }]],
        })
      ).statusCode,
      404,
    );
    const deleted = await call('DELETE', `/v1/admin/routes/${route.id}`);
    assert.equal(deleted.statusCode, 204);
    assert.equal(deleted.body, '');
    assert.equal((await call('DELETE', `/v1/admin/routes/${route.id}`)).statusCode, 404);
    assert.equal(catalog.table().route(route.id), undefined);
  });

  test('a route naming an unknown provider, or one provider twice, is refused with the field', async () => {
    const unknown = await call('POST', '/v1/admin/routes', {
      tiers: [
        [
          { provider: 'sim-a', weight: 1 },
          { provider: 'ghost', weight: 1 },
        ],
      ],
    });
    assert.equal(unknown.statusCode, 400);
    const problem = unknown.json<{ code: string; errors: Array<{ field: string; message: string }> }>();
    assert.equal(problem.code, 'PIGEON_ERR_VALIDATION');
    assert.deepEqual(problem.errors, [
      { field: '/tiers/0/1/provider', message: 'no provider named "ghost"' },
    ]);

    const twice = await call('POST', '/v1/admin/routes', {
      tiers: [[{ provider: 'sim-a', weight: 1 }], [{ provider: 'sim-a', weight: 1 }]],
    });
    assert.equal(twice.statusCode, 400);
    assert.equal(twice.json<{ errors: Array<{ field: string }> }>().errors[0]!.field, '/tiers/1/0/provider');

    const extra = await call('POST', '/v1/admin/routes', {
      id: 'mine',
      tiers: [[{ provider: 'sim-a', weight: 1 }]],
    });
    assert.equal(extra.statusCode, 400, 'the id is the server’s to assign');
    assert.deepEqual((await store.listRoutes()).length, 0);
  });

  test('a provider that routes name cannot be deleted (409) until they stop naming it', async () => {
    assert.equal((await call('PUT', '/v1/admin/providers/doomed', { type: 'simulator' })).statusCode, 201);
    const route = (
      await call('POST', '/v1/admin/routes', { tiers: [[{ provider: 'doomed', weight: 1 }]] })
    ).json<{ id: string }>();
    const refused = await call('DELETE', '/v1/admin/providers/doomed');
    assert.equal(refused.statusCode, 409);
    const problem = refused.json<{ code: string; detail: string }>();
    assert.equal(problem.code, 'PIGEON_ERR_CONFLICT');
    assert.ok(problem.detail.includes(route.id));

    assert.equal((await call('DELETE', `/v1/admin/routes/${route.id}`)).statusCode, 204);
    assert.equal((await call('DELETE', '/v1/admin/providers/doomed')).statusCode, 204);
    assert.equal((await call('DELETE', '/v1/admin/providers/doomed')).statusCode, 404);
    assert.equal(catalog.get('doomed'), undefined);
  });

  test('a provider added through the API serves its receipt webhook at once', async () => {
    assert.equal((await call('PUT', '/v1/admin/providers/late-sim', { type: 'simulator' })).statusCode, 201);
    const receipt = await app.inject({
      method: 'POST',
      url: '/v1/receipts/late-sim',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    // Its adapter checked (and refused) the signature: the provider is known.
    assert.equal(receipt.json<{ code: string }>().code, 'PIGEON_ERR_RECEIPT_SIGNATURE');
    assert.equal((await call('DELETE', '/v1/admin/providers/late-sim')).statusCode, 204);
  });

  describe('simulate', () => {
    let routeId: string;

    before(async () => {
      for (const [name, prices] of [
        ['cheap', { GB: 0.02 }],
        ['dear', { GB: 0.05, '*': 0.06 }],
        ['backup', { '*': 0.01 }],
      ] as const) {
        const r = await call('PUT', `/v1/admin/providers/${name}`, {
          type: 'simulator',
          prices,
          enabled: true,
        });
        assert.equal(r.statusCode, 201, r.body);
      }
      const created = await call('POST', '/v1/admin/routes', {
        name: 'UK marketing',
        prefix: '44',
        messageClass: 'marketing',
        strategy: 'least_cost',
        tiers: [
          [
            { provider: 'dear', weight: 1 },
            { provider: 'cheap', weight: 1 },
          ],
          [{ provider: 'backup', weight: 1, senderId: 'BACKUP' }],
        ],
      });
      routeId = created.json<{ id: string }>().id;
    });

    test('shows the route, the order, weights, costs and why', async () => {
      const longText = 'x'.repeat(200); // two GSM-7 parts
      const response = await call('POST', '/v1/admin/routes/simulate', {
        to: '+447400123456',
        class: 'marketing',
        body: longText,
      });
      assert.equal(response.statusCode, 200, response.body);
      const result = response.json<{
        routeId: string;
        routeName: string;
        country: string;
        segments: number;
        order: string[];
        candidates: Array<{ provider: string; tier: number; costPerMessage: number; senderId?: string }>;
        explanation: string[];
      }>();
      assert.equal(result.routeId, routeId);
      assert.equal(result.routeName, 'UK marketing');
      assert.equal(result.country, 'GB');
      assert.equal(result.segments, 2);
      assert.deepEqual(result.order, ['cheap', 'dear', 'backup']);
      assert.deepEqual(
        result.candidates.map((c) => [c.provider, c.tier, c.costPerMessage, c.senderId]),
        [
          ['cheap', 0, 0.04, undefined],
          ['dear', 0, 0.1, undefined],
          ['backup', 1, 0.02, 'BACKUP'],
        ],
      );
      assert.match(result.explanation[0]!, /UK marketing" matched on prefix 44, class marketing/);
      assert.equal(result.explanation.at(-1), 'order: cheap → dear → backup');
    });

    test('uses the provider health the monitor reported', async () => {
      health.apply(
        providerHealthEvent({ provider: 'cheap', country: 'GB', health: 0.2, reason: 'dlr 20 %' }),
      );
      try {
        const result = (
          await call('POST', '/v1/admin/routes/simulate', {
            to: '+447400123456',
            class: 'marketing',
            segments: 1,
          })
        ).json<{ order: string[]; candidates: Array<{ provider: string; health: number }> }>();
        assert.deepEqual(result.order, ['dear', 'cheap', 'backup'], 'cheap is below the 0.5 floor');
        assert.equal(result.candidates.find((c) => c.provider === 'cheap')!.health, 0.2);
      } finally {
        health.apply(
          providerHealthEvent({ provider: 'cheap', country: 'GB', health: 1, reason: 'recovered' }),
        );
      }
    });

    test('a message no route matches goes to the default route of every enabled provider', async () => {
      const result = (
        await call('POST', '/v1/admin/routes/simulate', {
          to: '+14155550123',
          class: 'otp',
          tenantId: 'tenant-z',
        })
      ).json<{ routeId: string; country: string; order: string[]; explanation: string[] }>();
      assert.equal(result.routeId, 'default');
      assert.equal(result.country, 'US');
      // acme was added without `enabled: true`: disabled, it is not on the default route.
      assert.deepEqual([...result.order].sort(), ['backup', 'cheap', 'dear', 'sim-a', 'sim-b']);
      assert.match(result.explanation[0]!, /^no route matched/);
    });

    test('an invalid number, or body and segments together, is refused', async () => {
      const bad = await call('POST', '/v1/admin/routes/simulate', { to: '+1234', class: 'otp' });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json<{ code: string }>().code, 'PIGEON_ERR_INVALID_NUMBER');
      const both = await call('POST', '/v1/admin/routes/simulate', {
        to: '+447400123456',
        class: 'otp',
        body: 'hi',
        segments: 2,
      });
      assert.equal(both.statusCode, 400);
      assert.equal(both.json<{ code: string }>().code, 'PIGEON_ERR_VALIDATION');
      const noClass = await call('POST', '/v1/admin/routes/simulate', { to: '+447400123456' });
      assert.equal(noClass.statusCode, 400);
    });
  });
});
