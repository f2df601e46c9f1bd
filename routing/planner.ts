import type { MessageRequested } from '../core/message.ts';
import type { HealthBoard } from '../core/provider-health.ts';
import type { ProviderAdapter } from '../providers/provider.ts';
import type { ConfiguredProvider, ProviderDefinition } from '../providers/registry.ts';
import { planRoute, type RouteSignals } from './plan.ts';
import type { RouteRule } from './rules.ts';
import { compileRouteTable, type RouteTable } from './table.ts';

/** One provider to try for a message, with what the dispatcher needs to call it. */
export interface PlannedProvider {
  provider: string;
  adapter: ProviderAdapter;
  definition: ProviderDefinition;
  /** Sender id chosen by the route (or the provider's default); the message's own when undefined. */
  senderId: string | undefined;
  costPerMessage: number;
}

/**
 * Decides which providers to try for a message, in order: the route plan (`planRoute`) bound to
 * the adapters that carry it. The dispatcher passes its breakers; health comes from the monitor.
 */
export interface RoutePlanner {
  plan(message: MessageRequested, signals: Required<Pick<RouteSignals, 'breakerOpen'>>): PlannedProvider[];
}

/** Where the planner finds providers and the compiled routes (RoutingCatalog in production). */
export interface RoutingSource {
  table(): RouteTable;
  get(name: string): ProviderAdapter | undefined;
  definition(name: string): ProviderDefinition | undefined;
}

const ALWAYS_HEALTHY = { health: () => 1 };

/**
 * Plans with the route rules (RoutingCatalog: from the store, kept current), weighting providers
 * by the monitor's health verdicts and skipping past open breakers.
 */
export class CatalogPlanner implements RoutePlanner {
  constructor(
    private readonly source: RoutingSource,
    private readonly health: Pick<HealthBoard, 'health'> = ALWAYS_HEALTHY,
    private readonly random: () => number = Math.random,
  ) {}

  private readonly healthOf = (provider: string, country: string | undefined): number =>
    this.health.health(provider, country);

  plan(message: MessageRequested, signals: Required<Pick<RouteSignals, 'breakerOpen'>>): PlannedProvider[] {
    if (message.provider !== undefined) return this.pinned(message.provider);
    const routePlan = planRoute(
      this.source.table(),
      {
        tenantId: message.tenantId,
        to: message.to,
        country: message.country,
        messageClass: message.class,
        segments: message.segments,
        from: message.from,
      },
      { health: this.healthOf, breakerOpen: signals.breakerOpen },
      this.random,
      // Every message is planned; nobody reads why.
      { explain: false },
    );
    const planned: PlannedProvider[] = [];
    for (const name of routePlan.order) {
      const adapter = this.source.get(name);
      const definition = this.source.definition(name);
      if (!adapter || !definition) continue;
      // A handful of candidates: a scan beats building a map per message.
      const candidate = routePlan.candidates.find((c) => c.provider === name);
      planned.push({
        provider: name,
        adapter,
        definition,
        senderId: candidate?.senderId,
        costPerMessage: candidate?.costPerMessage ?? 0,
      });
    }
    return planned;
  }

  /**
   * A canary probes one provider on purpose, whatever its health — a provider marked dead must be
   * able to show it recovered — and never fails over: a copy through another provider would
   * measure the wrong route.
   */
  private pinned(name: string): PlannedProvider[] {
    const adapter = this.source.get(name);
    const definition = this.source.definition(name);
    if (!adapter || !definition) return [];
    return [{ provider: name, adapter, definition, senderId: definition.senderId, costPerMessage: 0 }];
  }
}

/** A fixed routing source: these providers and rules, compiled once (tests, benchmarks). */
export function fixedRouting(
  providers: readonly ConfiguredProvider[],
  rules: readonly RouteRule[] = [],
): RoutingSource {
  const byName = new Map(providers.map((p) => [p.adapter.name, p]));
  const table = compileRouteTable(
    rules,
    providers.map((p) => ({ ...p.definition, weight: p.weight })),
  );
  return {
    table: () => table,
    get: (name) => byName.get(name)?.adapter,
    definition: (name) => byName.get(name)?.definition,
  };
}
