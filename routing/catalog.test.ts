import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { MemoryCache } from '../core/cache/memory-cache.ts';
import { type Config, loadConfig } from '../core/config.ts';
import { isPigeonError } from '../core/errors.ts';
import { createLogger } from '../core/logger.ts';
import { SqliteStore } from '../core/store/sqlite-store.ts';
import { SIMULATOR_ENV } from '../test/support/simulator-env.ts';
import { waitFor } from '../test/support/wait.ts';
import type { ProviderAdapter, ProviderDeps } from '../providers/provider.ts';
import { planRoute } from './plan.ts';
import { RoutingCatalog, seedRouting } from './catalog.ts';
import { RoutingEvents } from './events.ts';

const REFRESH_MS = 50;

interface Harness {
  store: SqliteStore;
  deps: ProviderDeps;
  logs: Array<Record<string, unknown>>;
  /** Every adapter close, with whether the catalog still handed that adapter out at the time. */
  closes: Array<{ provider: string; stillInstalled: boolean }>;
  catalog: RoutingCatalog;
}

function harness(config: Config = loadConfig(SIMULATOR_ENV)): Harness {
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const store = new SqliteStore(':memory:');
  const deps: ProviderDeps = { config, cache: new MemoryCache(), logger };
  const closes: Harness['closes'] = [];
  const catalog: RoutingCatalog = new RoutingCatalog({
    store,
    providerDeps: deps,
    refreshMs: REFRESH_MS,
    closeGraceMs: 0,
    // Records each real adapter's close, to check the replacement was installed first.
    onAdapter: (adapter: ProviderAdapter) => {
      const close = adapter.close?.bind(adapter);
      adapter.close = async () => {
        closes.push({ provider: adapter.name, stillInstalled: catalog.get(adapter.name) === adapter });
        await close?.();
      };
    },
  });
  return { store, deps, logs, closes, catalog };
}

const ukOtp = {
  tenantId: 't1',
  to: '+447700900123',
  country: 'GB',
  messageClass: 'otp' as const,
  segments: 1,
};

describe('RoutingCatalog over a SQLite store', () => {
  let h: Harness;

  beforeEach(async () => {
    h = harness();
    await h.store.migrate();
  });

  afterEach(async () => {
    await h.catalog.close();
    await h.store.close();
  });

  test('seeding puts the two simulators into an empty store, and start() loads them', async () => {
    assert.deepEqual(await seedRouting(h.store, h.deps), { providers: ['sim-a', 'sim-b'], routes: [] });
    await h.catalog.start();
    assert.deepEqual(
      h.catalog.providers().map((p) => [p.definition.name, p.weight]),
      [
        ['sim-a', 50],
        ['sim-b', 50],
      ],
    );
    assert.equal(h.catalog.get('sim-a')?.type, 'simulator');
    assert.equal(h.catalog.get('nope'), undefined);
    assert.deepEqual([...h.catalog.table().providers.keys()], ['sim-a', 'sim-b']);
    assert.equal(planRoute(h.catalog.table(), ukOtp).routeId, 'default');
  });

  test('a route written to the store reaches the running catalog within the refresh interval', async () => {
    await seedRouting(h.store, h.deps);
    await h.catalog.start();
    let changes = 0;
    h.catalog.onChange(() => changes++);
    const started = Date.now();
    await h.store.putRoute({
      id: 'uk-otp',
      priority: 1,
      country: 'GB',
      strategy: 'weighted',
      tiers: [[{ provider: 'sim-b', weight: 1 }], [{ provider: 'sim-a', weight: 1 }]],
      enabled: true,
    });
    await waitFor(() => h.catalog.table().rules.length === 1, 2000, 'route loaded');
    assert.ok(Date.now() - started < REFRESH_MS * 4, `took ${Date.now() - started} ms`);
    assert.deepEqual(planRoute(h.catalog.table(), ukOtp).order, ['sim-b', 'sim-a']);
    assert.equal(changes, 1);
    // Nothing changed since: polls must not rebuild or notify.
    await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
    assert.equal(changes, 1);
  });

  test('a changed provider gets a new adapter, installed before the old one is closed', async () => {
    await h.store.putProvider({ name: 'p1', type: 'simulator', weight: 1 });
    await h.catalog.start();
    const first = h.catalog.get('p1');
    assert.ok(first);

    await h.store.putProvider({ name: 'p1', type: 'simulator', weight: 1 });
    await h.catalog.refresh();
    assert.equal(h.catalog.get('p1'), first, 'an identical definition keeps its adapter');

    await h.store.putProvider({ name: 'p1', type: 'simulator', weight: 7, options: { latencyMs: 1 } });
    await waitFor(() => h.catalog.get('p1') !== first, 2000, 'adapter replaced');
    assert.equal(h.catalog.definition('p1')?.weight, 7);
    assert.equal(h.catalog.table().providers.get('p1')?.weight, 7);
    await waitFor(() => h.closes.length === 1, 2000, 'old adapter closed');
    assert.deepEqual(h.closes, [{ provider: 'p1', stillInstalled: false }]);
  });

  test('a definition that fails to build is logged without its options and the old adapter stays', async () => {
    await h.store.putProvider({ name: 'p1', type: 'simulator', weight: 2 });
    await h.catalog.start();
    const adapter = h.catalog.get('p1');

    await h.store.putProvider({
      name: 'p1',
      type: 'no-such-type',
      weight: 9,
      options: { apiSecret: 'hunter2-secret' },
    });
    await waitFor(() => h.logs.some((l) => l.event === RoutingEvents.providerFailed), 2000, 'failure logged');
    assert.equal(h.catalog.get('p1'), adapter);
    assert.equal(h.catalog.definition('p1')?.weight, 2);
    assert.equal(h.catalog.table().providers.get('p1')?.weight, 2);
    const failure = h.logs.find((l) => l.event === RoutingEvents.providerFailed)!;
    assert.equal(failure.provider, 'p1');
    assert.match(String(failure.err), /unknown type "no-such-type"/);
    assert.equal(failure.keptPrevious, true);
    assert.ok(!JSON.stringify(h.logs).includes('hunter2'), 'no credential in any log line');
    assert.deepEqual(h.closes, []);

    // Polls that see the same broken definition do not log it again.
    const failures = () => h.logs.filter((l) => l.event === RoutingEvents.providerFailed).length;
    await h.store.putRoute({
      id: 'touch',
      priority: 1,
      enabled: false,
      strategy: 'weighted',
      tiers: [[{ provider: 'p1', weight: 1 }]],
    });
    await h.catalog.refresh();
    await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
    assert.equal(failures(), 1);

    await h.store.putProvider({ name: 'p1', type: 'simulator', weight: 3 });
    await waitFor(() => h.catalog.definition('p1')?.weight === 3, 2000, 'fixed definition loaded');
    assert.notEqual(h.catalog.get('p1'), adapter);
  });

  test('a new provider whose definition fails has no adapter and is not routed to until fixed', async () => {
    await h.store.putProvider({ name: 'ok', type: 'simulator' });
    await h.store.putProvider({ name: 'broken', type: 'simulator', weight: -5 });
    await h.catalog.start();
    assert.equal(h.catalog.get('broken'), undefined);
    assert.deepEqual([...h.catalog.table().providers.keys()], ['ok']);
    await h.store.putProvider({ name: 'broken', type: 'simulator', weight: 5 });
    await waitFor(() => h.catalog.get('broken') !== undefined, 2000, 'fixed provider loaded');
  });

  test('the periodic full reload tries a failed definition again', async () => {
    const catalog = new RoutingCatalog({
      store: h.store,
      providerDeps: h.deps,
      refreshMs: REFRESH_MS,
      fullReloadMs: REFRESH_MS * 2,
    });
    try {
      await h.store.putProvider({ name: 'flaky', type: 'no-such-type' });
      await catalog.start();
      const failures = () =>
        h.logs.filter((l) => l.event === RoutingEvents.providerFailed && l.provider === 'flaky').length;
      await waitFor(() => failures() >= 2, 2000, 'retried');
      assert.equal(catalog.get('flaky'), undefined);
    } finally {
      await catalog.close();
    }
  });

  test('a deleted provider disappears and its adapter is closed', async () => {
    await h.store.putProvider({ name: 'a', type: 'simulator' });
    await h.store.putProvider({ name: 'b', type: 'simulator' });
    await h.catalog.start();
    await h.store.deleteProvider('b');
    await waitFor(() => h.catalog.get('b') === undefined, 2000, 'provider removed');
    await waitFor(() => h.closes.length === 1, 2000, 'adapter closed');
    assert.deepEqual(h.closes, [{ provider: 'b', stillInstalled: false }]);
    assert.deepEqual([...h.catalog.table().providers.keys()], ['a']);
  });

  test('an invalid route in the store is skipped and logged once; the valid ones load', async () => {
    await h.store.putProvider({ name: 'a', type: 'simulator' });
    await h.store.putRoute({
      id: 'good',
      priority: 1,
      enabled: true,
      strategy: 'weighted',
      tiers: [[{ provider: 'a', weight: 1 }]],
    });
    await h.store.putRoute({ id: 'bad', priority: 2, enabled: true, strategy: 'fastest', tiers: [] });
    await h.catalog.start();
    await h.catalog.refresh();
    assert.deepEqual(
      h.catalog.table().rules.map((r) => r.id),
      ['good'],
    );
    const invalid = h.logs.filter((l) => l.event === RoutingEvents.routeInvalid);
    assert.equal(invalid.length, 1);
    assert.equal(invalid[0]!.route, 'bad');
  });

  test('close() stops polling and closes every adapter', async () => {
    await h.store.putProvider({ name: 'a', type: 'simulator' });
    await h.store.putProvider({ name: 'b', type: 'simulator' });
    await h.catalog.start();
    await h.catalog.close();
    assert.deepEqual(h.closes.map((c) => c.provider).sort(), ['a', 'b']);
    assert.equal(h.catalog.get('a'), undefined);
  });

  test('a store outage keeps the routes in hand and is logged once', async () => {
    await h.store.putProvider({ name: 'a', type: 'simulator' });
    await h.catalog.start();
    await h.store.close();
    await new Promise((r) => setTimeout(r, REFRESH_MS * 4));
    assert.ok(h.catalog.get('a'));
    assert.equal(h.logs.filter((l) => l.event === RoutingEvents.refreshFailed).length, 1);
  });
});

describe('seedRouting', () => {
  const fileConfig = (): Config => ({
    ...loadConfig(SIMULATOR_ENV),
    providersFile: {
      providers: [{ name: 'acme', type: 'simulator', weight: 5 }],
      routes: [{ id: 'gb', country: 'GB', tiers: [[{ provider: 'acme', weight: 1 }]] }],
    },
  });

  test('copies the providers and routes of PIGEON_CONFIG once; later admin changes survive a restart', async () => {
    const h = harness(fileConfig());
    await h.store.migrate();
    try {
      assert.deepEqual(await seedRouting(h.store, h.deps), { providers: ['acme'], routes: ['gb'] });
      const [route] = await h.store.listRoutes();
      assert.deepEqual(route?.definition, {
        id: 'gb',
        priority: 100,
        country: 'GB',
        strategy: 'weighted',
        tiers: [[{ provider: 'acme', weight: 1 }]],
        enabled: true,
      });
      await h.store.putProvider({ name: 'acme', type: 'simulator', weight: 99 });
      assert.deepEqual(await seedRouting(h.store, h.deps), { providers: [], routes: [] });
      assert.equal((await h.store.listProviders())[0]?.definition.weight, 99);
    } finally {
      await h.store.close();
    }
  });

  test('an invalid route or one naming an unknown provider stops the process with PIGEON_ERR_CONFIG', async () => {
    for (const routes of [
      [{ id: 'x', tiers: [] }],
      [{ id: 'x', tiers: [[{ provider: 'ghost', weight: 1 }]] }],
    ]) {
      const config = { ...fileConfig(), providersFile: { ...fileConfig().providersFile, routes } };
      const h = harness(config);
      await h.store.migrate();
      try {
        await assert.rejects(
          seedRouting(h.store, h.deps),
          (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_CONFIG',
        );
        assert.deepEqual(await h.store.listProviders(), [], 'nothing written');
      } finally {
        await h.store.close();
      }
    }
  });
});
