/** The api over buildApi, an in-memory SQLite store and the in-process bus and cache, for route tests. */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Registry } from 'prom-client';
import { buildApi, type ApiDeps } from '../../api/src/app.ts';
import { apiKeyRecord } from '../../api/src/api-keys.ts';
import type { Cache } from '../../core/cache/cache.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import { createRegistry } from '../../core/metrics.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { SqliteStore } from '../../core/store/sqlite-store.ts';

/** An API key the harness stores before the api starts. */
export interface TestApiKey {
  key: string;
  tenant: string;
  scopes: readonly string[];
  label?: string;
}

/** What a test may set: keys to store, deps to override, and its own store, cache or bus. */
export interface TestApiOptions {
  keys?: readonly TestApiKey[];
  deps?: Partial<ApiDeps>;
  /** Default: a new SQLite store in memory, migrated here. */
  store?: SqliteStore;
  /** Default: a MemoryCache that never sweeps. */
  cache?: Cache;
  /** Default: a MemoryBus with the topics of one partition. */
  bus?: MemoryBus;
}

/** The HTTP methods the route tests call. */
export type TestMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A running test api and what it runs over. */
export interface TestApi {
  app: FastifyInstance;
  store: SqliteStore;
  bus: MemoryBus;
  cache: Cache;
  registry: Registry;
  /** Injects a request: the key as a Bearer token, the payload as JSON. */
  call: (
    method: TestMethod,
    url: string,
    key?: string,
    payload?: unknown,
    headers?: Record<string, string>,
  ) => Promise<LightMyRequestResponse>;
  /** Builds another app over the same store, bus and cache, as a second api process; closed with the rest. */
  another: (deps?: Partial<ApiDeps>) => Promise<FastifyInstance>;
  /** Closes the apps, the bus, the cache and the store. */
  close: () => Promise<void>;
}

/** A `call` on any app: the key as a Bearer token, the payload as JSON. */
export function callOn(app: FastifyInstance): TestApi['call'] {
  return (method, url, key, payload, headers) =>
    app.inject({
      method,
      url,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });
}

/** Starts an api for a test: migrates the store, stores the keys, builds the app. */
export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const store = options.store ?? new SqliteStore(':memory:');
  if (!options.store) await store.migrate();
  for (const { key, tenant, scopes, label } of options.keys ?? []) {
    await store.putApiKey(apiKeyRecord(key, tenant, scopes, label ?? 'test'));
  }
  const bus = options.bus ?? new MemoryBus();
  if (!options.bus) await bus.ensureTopics(topicSpecs(1));
  const cache = options.cache ?? new MemoryCache({ sweepIntervalMs: 0 });
  const registry = options.deps?.registry ?? createRegistry('api');
  const build = (deps?: Partial<ApiDeps>) =>
    buildApi({
      logger: createLogger({ level: 'silent' }),
      bus,
      store,
      cache,
      registry: createRegistry('api'),
      readiness: new Readiness(),
      providers: new Map(),
      publishTimeoutMs: 500,
      simulatorEnabled: false,
      ...deps,
    });
  const app = await build({ ...options.deps, registry });
  const others: FastifyInstance[] = [];
  return {
    app,
    store,
    bus,
    cache,
    registry,
    call: callOn(app),
    another: async (deps) => {
      const other = await build({ ...options.deps, registry: createRegistry('api'), ...deps });
      others.push(other);
      return other;
    },
    close: async () => {
      await app.close();
      for (const other of others) await other.close();
      await bus.close();
      await cache.close();
      await store.close();
    },
  };
}
