import { PigeonError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/store/store.ts';
import type { ProviderAdapter, ProviderDeps } from '../providers/provider.ts';
import {
  type ConfiguredProvider,
  createAdapter,
  declaredProviders,
  type ProviderDefinition,
} from '../providers/registry.ts';
import { checkProviderDefinition } from './provider-definition.ts';
import { parseRouteRule, PROVIDER_NAME_PATTERN, type RouteRule, ruleProviders } from './rules.ts';
import { compileRouteTable, type RouteTable } from './table.ts';
import { RoutingEvents } from './events.ts';

export interface RoutingCatalogOptions {
  store: Store;
  providerDeps: ProviderDeps;
  /** How often the store's routing version is polled (default 2000 ms). */
  refreshMs?: number;
  /**
   * Everything is reloaded at least this often even when the version did not move (default 60 s),
   * and a definition that failed to build is tried again: a start() may have failed on a network
   * blip, not on the definition.
   */
  fullReloadMs?: number;
  /**
   * How long a replaced or removed adapter stays open before close() (default 15 s): a send that
   * planned with it a moment before the swap must be able to finish (send timeouts are ~10 s).
   */
  closeGraceMs?: number;
  /** Longest a new adapter's start() may take (an SMPP bind) before the build counts as failed. */
  startTimeoutMs?: number;
  probeRatio?: number;
  /**
   * Whether to open adapters' own connections (an SMPP bind) — the bridge does; the API, which only
   * verifies receipts with them, does not (default true).
   */
  startAdapters?: boolean;
  /** Called for every new adapter before start(): where the bridge subscribes to pushed receipts. */
  onAdapter?: (adapter: ProviderAdapter, definition: ProviderDefinition) => void;
}

export type RoutingChangeListener = (catalog: RoutingCatalog) => void;

interface Installed {
  definition: ProviderDefinition;
  /** Canonical JSON of the definition: a change of any field rebuilds the adapter. */
  json: string;
  adapter: ProviderAdapter;
}

/**
 * Provider adapters and the compiled route table, loaded from the store and kept current by
 * polling its routing version, so that a change made through the admin API reaches every bridge
 * and API process within seconds, without a restart.
 *
 * An adapter is rebuilt only when its definition changed; the new one is started and installed
 * before the old one is closed. A definition that fails to build is logged (by name and error,
 * never its options: they hold credentials) and skipped, and the previous adapter stays in use.
 */
export class RoutingCatalog {
  private readonly store: Store;
  private readonly deps: ProviderDeps;
  private readonly logger: Logger;
  private readonly refreshMs: number;
  private readonly fullReloadMs: number;
  private readonly closeGraceMs: number;
  private readonly startTimeoutMs: number;
  private readonly probeRatio: number | undefined;
  private readonly onAdapter: RoutingCatalogOptions['onAdapter'];
  private readonly startAdapters: boolean;

  private installed = new Map<string, Installed>();
  private currentTable: RouteTable;
  private fingerprint = '';
  private loadedVersion: string | undefined;
  private lastFullLoad = 0;
  /** Canonical JSON of the definition that last failed to build, by provider name. */
  private readonly failures = new Map<string, string>();
  private readonly invalidRoutes = new Map<string, string>();
  private readonly listeners = new Set<RoutingChangeListener>();
  private readonly retiring = new Map<ProviderAdapter, NodeJS.Timeout>();
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private storeDown = false;

  constructor(options: RoutingCatalogOptions) {
    this.store = options.store;
    this.deps = options.providerDeps;
    this.logger = options.providerDeps.logger;
    this.refreshMs = options.refreshMs ?? 2000;
    this.fullReloadMs = options.fullReloadMs ?? 60_000;
    this.closeGraceMs = options.closeGraceMs ?? 15_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 15_000;
    this.probeRatio = options.probeRatio;
    this.onAdapter = options.onAdapter;
    this.startAdapters = options.startAdapters ?? true;
    this.currentTable = this.compile([], []);
  }

  /** The adapter of a provider; satisfies the API's ProviderLookup for receipt webhooks. */
  get(name: string): ProviderAdapter | undefined {
    return this.installed.get(name)?.adapter;
  }

  /** Every provider with an adapter, disabled ones included (their receipts still arrive). */
  providers(): ConfiguredProvider[] {
    return [...this.installed.values()].map(({ definition, adapter }) => ({
      definition,
      adapter,
      weight: definition.weight ?? 1,
    }));
  }

  definition(name: string): ProviderDefinition | undefined {
    return this.installed.get(name)?.definition;
  }

  /** The route table compiled from the current routes and the providers that have an adapter. */
  table(): RouteTable {
    return this.currentTable;
  }

  /** The store's routing version the current state was loaded at. */
  version(): string | undefined {
    return this.loadedVersion;
  }

  /** Calls the listener after every change of providers or routes; returns the unsubscribe. */
  onChange(listener: RoutingChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Loads everything now, whatever the version, after any load already under way. Definitions that
   * failed before are not retried unless they changed (the periodic full reload retries them).
   */
  refresh(): Promise<void> {
    return this.enqueue(() => this.load(false));
  }

  /** Loads once (rejecting when the store cannot be read), then polls every refreshMs. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.refresh();
    this.schedule();
  }

  /** Stops polling and closes every adapter, the retiring ones at once. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.chain;
    const adapters = [...this.retiring.keys(), ...[...this.installed.values()].map((i) => i.adapter)];
    for (const timer of this.retiring.values()) clearTimeout(timer);
    this.retiring.clear();
    this.installed = new Map();
    await Promise.all(adapters.map((adapter) => this.closeAdapter(adapter)));
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.poll(), this.refreshMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    try {
      const version = await this.store.routingVersion();
      const full = Date.now() - this.lastFullLoad >= this.fullReloadMs;
      if (version !== this.loadedVersion || full) await this.enqueue(() => this.load(full));
      if (this.storeDown) {
        this.logger.info({ event: RoutingEvents.refreshRecovered }, RoutingEvents.refreshRecovered);
      }
      this.storeDown = false;
    } catch (err) {
      // The routes in hand keep serving; one line per outage, not one per poll.
      if (!this.storeDown) {
        this.logger.warn(
          { err: errorText(err), event: RoutingEvents.refreshFailed },
          RoutingEvents.refreshFailed,
        );
      }
      this.storeDown = true;
    } finally {
      this.schedule();
    }
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** `retryFailed`: build again the definitions that failed, though unchanged (full reloads). */
  private async load(retryFailed: boolean): Promise<void> {
    if (this.closed) return;
    // The version is read first: a write landing between it and the lists is loaded now and
    // loaded again at the next poll, never missed.
    const version = await this.store.routingVersion();
    const [providerRecords, routeRecords] = await Promise.all([
      this.store.listProviders(),
      this.store.listRoutes(),
    ]);
    if (retryFailed || this.lastFullLoad === 0) this.lastFullLoad = Date.now();

    const next = new Map<string, Installed>();
    const retired: ProviderAdapter[] = [];
    const builds: Array<Promise<void>> = [];
    for (const record of providerRecords) {
      const current = this.installed.get(record.name);
      const json = canonicalJson(record.definition);
      if (current?.json === json) {
        next.set(record.name, current);
        continue;
      }
      // A definition that failed is tried again when it changes, or at the next full reload.
      if (this.failures.get(record.name) === json && !retryFailed) {
        if (current) next.set(record.name, current);
        continue;
      }
      let definition: ProviderDefinition;
      try {
        definition = checkProviderDefinition(record.definition);
        if (definition.name !== record.name) {
          throw new PigeonError('PIGEON_ERR_VALIDATION', `definition names "${definition.name}"`);
        }
      } catch (err) {
        this.providerFailed(record.name, json, err, current !== undefined);
        if (current) next.set(record.name, current);
        continue;
      }
      builds.push(
        this.build(definition).then(
          (adapter) => {
            this.failures.delete(record.name);
            next.set(record.name, { definition, json, adapter });
            if (current) retired.push(current.adapter);
          },
          (err: unknown) => {
            this.providerFailed(record.name, json, err, current !== undefined);
            if (current) next.set(record.name, current);
          },
        ),
      );
    }
    await Promise.all(builds);
    if (this.closed) {
      // close() ran while adapters were starting: they were never installed, so close them here.
      const fresh = [...next.values()].filter((i) => this.installed.get(i.definition.name) !== i);
      await Promise.all(fresh.map((i) => this.closeAdapter(i.adapter)));
      return;
    }
    for (const [name, installed] of this.installed) {
      if (!next.has(name)) retired.push(installed.adapter);
    }
    for (const name of this.failures.keys()) {
      if (!providerRecords.some((r) => r.name === name)) this.failures.delete(name);
    }

    const rules = this.parseRoutes(routeRecords);
    const ordered = [...next.values()].sort((a, b) => (a.definition.name < b.definition.name ? -1 : 1));
    const fingerprint = JSON.stringify([ordered.map((i) => i.json), rules]);
    this.installed = next;
    this.loadedVersion = version;
    if (fingerprint !== this.fingerprint) {
      this.fingerprint = fingerprint;
      this.currentTable = this.compile(
        rules,
        ordered.map((i) => i.definition),
      );
      this.logger.info(
        {
          event: RoutingEvents.reloaded,
          providers: ordered.map((i) => i.definition.name),
          routes: this.currentTable.rules.length,
          version,
        },
        RoutingEvents.reloaded,
      );
      for (const listener of this.listeners) {
        try {
          listener(this);
        } catch (err) {
          this.logger.error({ err }, 'routing change listener failed');
        }
      }
    }
    for (const adapter of retired) this.retire(adapter);
  }

  private async build(definition: ProviderDefinition): Promise<ProviderAdapter> {
    const adapter = createAdapter(definition, this.deps);
    try {
      this.onAdapter?.(adapter, definition);
      if (adapter.start && this.startAdapters) {
        await withTimeout(adapter.start(), this.startTimeoutMs, 'start() timed out');
      }
      return adapter;
    } catch (err) {
      await this.closeAdapter(adapter);
      throw err;
    }
  }

  private parseRoutes(records: Awaited<ReturnType<Store['listRoutes']>>): RouteRule[] {
    const rules: RouteRule[] = [];
    for (const record of records) {
      try {
        const rule = parseRouteRule(record.definition);
        if (rule.id !== record.id) {
          throw new PigeonError('PIGEON_ERR_VALIDATION', `definition names id "${rule.id}"`);
        }
        rules.push(rule);
        this.invalidRoutes.delete(record.id);
      } catch (err) {
        const json = canonicalJson(record.definition);
        if (this.invalidRoutes.get(record.id) !== json) {
          this.invalidRoutes.set(record.id, json);
          this.logger.error(
            { event: RoutingEvents.routeInvalid, route: record.id, err: errorText(err) },
            RoutingEvents.routeInvalid,
          );
        }
      }
    }
    return rules;
  }

  private providerFailed(name: string, json: string, err: unknown, keptPrevious: boolean) {
    this.failures.set(name, json);
    // Only the name and the error text: the definition's options hold credentials.
    this.logger.error(
      { event: RoutingEvents.providerFailed, provider: name, err: errorText(err), keptPrevious },
      RoutingEvents.providerFailed,
    );
  }

  private retire(adapter: ProviderAdapter): void {
    if (this.closeGraceMs <= 0) {
      void this.closeAdapter(adapter);
      return;
    }
    const timer = setTimeout(() => {
      this.retiring.delete(adapter);
      void this.closeAdapter(adapter);
    }, this.closeGraceMs);
    timer.unref();
    this.retiring.set(adapter, timer);
  }

  private async closeAdapter(adapter: ProviderAdapter): Promise<void> {
    try {
      await adapter.close?.();
    } catch (err) {
      this.logger.warn(
        { event: RoutingEvents.closeFailed, provider: adapter.name, err: errorText(err) },
        RoutingEvents.closeFailed,
      );
    }
  }

  private compile(rules: RouteRule[], definitions: ProviderDefinition[]): RouteTable {
    return compileRouteTable(
      rules,
      definitions,
      this.probeRatio === undefined ? {} : { probeRatio: this.probeRatio },
    );
  }
}

/**
 * Copies the providers and routes of PIGEON_CONFIG (or the two simulators when it declares none)
 * into the store, for names and ids it does not hold yet: the file bootstraps an empty store, and
 * the admin API owns every change after that. Throws PIGEON_ERR_CONFIG for an invalid file.
 */
export async function seedRouting(
  store: Store,
  deps: ProviderDeps,
): Promise<{ providers: string[]; routes: string[] }> {
  const definitions = declaredProviders(deps);
  const namePattern = new RegExp(PROVIDER_NAME_PATTERN);
  definitions.forEach((definition, i) => {
    try {
      checkProviderDefinition(definition);
    } catch (err) {
      throw new PigeonError('PIGEON_ERR_CONFIG', `PIGEON_CONFIG providers[${i}]: ${errorText(err)}`);
    }
    if (!namePattern.test(definition.name)) {
      throw new PigeonError('PIGEON_ERR_CONFIG', `PIGEON_CONFIG providers[${i}]: bad name`);
    }
  });
  const rules = (deps.config.providersFile?.routes ?? []).map((route, i) => {
    try {
      return parseRouteRule(route);
    } catch (err) {
      throw new PigeonError('PIGEON_ERR_CONFIG', `PIGEON_CONFIG routes[${i}]: ${errorText(err)}`);
    }
  });
  const known = new Set([
    ...definitions.map((d) => d.name),
    ...(await store.listProviders()).map((p) => p.name),
  ]);
  for (const rule of rules) {
    const unknown = ruleProviders(rule).filter((p) => !known.has(p));
    if (unknown.length > 0) {
      throw new PigeonError(
        'PIGEON_ERR_CONFIG',
        `PIGEON_CONFIG route "${rule.id}" names unknown provider(s): ${unknown.join(', ')}`,
      );
    }
  }
  const seeded = { providers: [] as string[], routes: [] as string[] };
  for (const definition of definitions) {
    if (await store.putProvider(definition, { ifAbsent: true })) seeded.providers.push(definition.name);
  }
  for (const rule of rules) {
    if (await store.putRoute(rule, { ifAbsent: true })) seeded.routes.push(rule.id);
  }
  return seeded;
}

/** JSON with object keys sorted, so that equal definitions compare equal as text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
