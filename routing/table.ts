import type { MessageClass } from '../core/message.ts';
import type { ProviderDefinition } from '../providers/registry.ts';
import { DEFAULT_QUALITY_FLOOR, type RouteRule, type RouteStrategy } from './rules.ts';

/** Share of transactional and marketing messages used to probe a provider marked dead (health 0). */
export const DEFAULT_PROBE_RATIO = 0.02;
export const DEFAULT_ROUTE_ID = 'default';

/** What routing needs of a provider, taken from its definition. */
export interface ProviderInfo {
  name: string;
  weight: number;
  enabled: boolean;
  senderId: string | undefined;
  /** Price per segment by destination country; `*` for any other. */
  prices: ReadonlyMap<string, number>;
}

/** One provider of a compiled route, with everything that does not depend on the message resolved. */
export interface CompiledEntry {
  provider: string;
  tier: number;
  weight: number;
  /** The route entry's sender id, else the provider's; the message's own `from` when undefined. */
  senderId: string | undefined;
  /** Set when the entry can never be used: the provider is unknown, disabled or listed twice. */
  excluded: string | undefined;
  info: ProviderInfo | undefined;
}

export interface CompiledRoute {
  /** The rule's id, or `default`. */
  id: string;
  name: string | undefined;
  rule: RouteRule | undefined;
  strategy: RouteStrategy;
  qualityFloor: number;
  /** Entries in tier order, then in the order the rule lists them. */
  entries: readonly CompiledEntry[];
  tierCount: number;
  /** First line of every plan's explanation: which route and why. */
  reason: string;
  country: string | undefined;
  messageClass: MessageClass | undefined;
}

/** What a route is matched on. */
export interface RouteKey {
  tenantId: string;
  /** E.164, with or without the leading `+`. */
  to: string;
  country: string | undefined;
  messageClass: MessageClass;
}

export interface RouteTableOptions {
  /** Share of eligible messages that probe a health-0 provider first (default 0.02). */
  probeRatio?: number;
}

/**
 * Rules of one tenant scope (a tenant, or every tenant), indexed by prefix. Within one prefix the
 * routes are sorted most specific first, so the first whose country and class match is the winner.
 */
interface Bucket {
  /** The prefix lengths present, longest first (0 for rules without a prefix). */
  lengths: number[];
  byPrefix: Map<string, CompiledRoute[]>;
}

/**
 * Routes and providers compiled into lookup structures, once per change of either. Matching a
 * message costs a map lookup per distinct prefix length present, not a scan of the rules.
 */
export class RouteTable {
  /** The enabled rules that were compiled. */
  readonly rules: readonly RouteRule[];
  readonly providers: ReadonlyMap<string, ProviderInfo>;
  readonly defaultRoute: CompiledRoute;
  readonly probeRatio: number;
  private readonly tenants: Map<string, Bucket>;
  private readonly anyTenant: Bucket;
  private readonly byId: Map<string, CompiledRoute>;

  constructor(
    rules: readonly RouteRule[],
    definitions: readonly ProviderDefinition[],
    options: RouteTableOptions = {},
  ) {
    this.probeRatio = Math.min(1, Math.max(0, options.probeRatio ?? DEFAULT_PROBE_RATIO));
    const providers = new Map<string, ProviderInfo>();
    for (const d of definitions) providers.set(d.name, providerInfo(d));
    this.providers = providers;
    this.rules = rules.filter((r) => r.enabled);

    this.byId = new Map();
    const scopes = new Map<string, CompiledRoute[]>();
    for (const rule of this.rules) {
      const route = compileRule(rule, providers);
      this.byId.set(rule.id, route);
      append(scopes, rule.tenantId ?? '', route);
    }
    this.anyTenant = bucket(scopes.get('') ?? []);
    scopes.delete('');
    this.tenants = new Map([...scopes].map(([tenant, routes]) => [tenant, bucket(routes)]));
    this.defaultRoute = defaultRoute([...providers.values()].sort((a, b) => compare(a.name, b.name)));
  }

  /** The most specific enabled route for the message, or the default route. */
  match(key: RouteKey): CompiledRoute {
    const digits = key.to.charCodeAt(0) === 43 /* + */ ? key.to.slice(1) : key.to;
    const tenant = this.tenants.get(key.tenantId);
    return (tenant && find(tenant, digits, key)) ?? find(this.anyTenant, digits, key) ?? this.defaultRoute;
  }

  /** A compiled route by rule id (`default` for the default route). */
  route(id: string): CompiledRoute | undefined {
    return id === DEFAULT_ROUTE_ID ? this.defaultRoute : this.byId.get(id);
  }
}

/** Compiles routes and provider definitions into a table; disabled rules are left out. */
export function compileRouteTable(
  rules: readonly RouteRule[],
  definitions: readonly ProviderDefinition[],
  options: RouteTableOptions = {},
): RouteTable {
  return new RouteTable(rules, definitions, options);
}

function find(b: Bucket, digits: string, key: RouteKey): CompiledRoute | undefined {
  for (const length of b.lengths) {
    if (length > digits.length) continue;
    const routes = b.byPrefix.get(length === 0 ? '' : digits.slice(0, length));
    if (!routes) continue;
    for (const route of routes) {
      if (route.country !== undefined && route.country !== key.country) continue;
      if (route.messageClass !== undefined && route.messageClass !== key.messageClass) continue;
      return route;
    }
  }
  return undefined;
}

function bucket(routes: CompiledRoute[]): Bucket {
  const byPrefix = new Map<string, CompiledRoute[]>();
  for (const route of routes) {
    append(byPrefix, route.rule?.prefix ?? '', route);
  }
  for (const list of byPrefix.values()) list.sort(bySpecificity);
  const lengths = [...new Set([...byPrefix.keys()].map((p) => p.length))].sort((a, b) => b - a);
  return { lengths, byPrefix };
}

/** Among rules of one tenant scope and prefix: country, then class, then priority; id keeps it stable. */
function bySpecificity(a: CompiledRoute, b: CompiledRoute): number {
  return (
    Number(b.country !== undefined) - Number(a.country !== undefined) ||
    Number(b.messageClass !== undefined) - Number(a.messageClass !== undefined) ||
    a.rule!.priority - b.rule!.priority ||
    compare(a.id, b.id)
  );
}

function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function providerInfo(d: ProviderDefinition): ProviderInfo {
  return {
    name: d.name,
    weight: d.weight ?? 1,
    enabled: d.enabled ?? true,
    senderId: d.senderId,
    prices: new Map(Object.entries(d.prices ?? {})),
  };
}

function compileRule(rule: RouteRule, providers: ReadonlyMap<string, ProviderInfo>): CompiledRoute {
  const seen = new Set<string>();
  const entries: CompiledEntry[] = [];
  rule.tiers.forEach((tier, t) => {
    for (const entry of tier) {
      const info = providers.get(entry.provider);
      let excluded: string | undefined;
      if (seen.has(entry.provider)) excluded = 'listed in an earlier tier of this route';
      else if (!info) excluded = 'unknown provider';
      else if (!info.enabled) excluded = 'provider disabled';
      seen.add(entry.provider);
      entries.push({
        provider: entry.provider,
        tier: t,
        weight: entry.weight,
        senderId: entry.senderId ?? info?.senderId,
        excluded,
        info,
      });
    }
  });
  const criteria = [
    rule.tenantId !== undefined ? `tenant ${rule.tenantId}` : undefined,
    rule.prefix !== undefined ? `prefix ${rule.prefix}` : undefined,
    rule.country !== undefined ? `country ${rule.country}` : undefined,
    rule.messageClass !== undefined ? `class ${rule.messageClass}` : undefined,
  ].filter((c) => c !== undefined);
  const title = rule.name === undefined ? `route ${rule.id}` : `route ${rule.id} "${rule.name}"`;
  return {
    id: rule.id,
    name: rule.name,
    rule,
    strategy: rule.strategy,
    qualityFloor: rule.qualityFloor ?? DEFAULT_QUALITY_FLOOR,
    entries,
    tierCount: rule.tiers.length,
    reason: `${title} matched on ${criteria.length > 0 ? criteria.join(', ') : 'any message'} (priority ${rule.priority}, ${rule.strategy})`,
    country: rule.country,
    messageClass: rule.messageClass,
  };
}

function defaultRoute(providers: readonly ProviderInfo[]): CompiledRoute {
  return {
    id: DEFAULT_ROUTE_ID,
    name: undefined,
    rule: undefined,
    strategy: 'weighted',
    qualityFloor: DEFAULT_QUALITY_FLOOR,
    entries: providers.map((info) => ({
      provider: info.name,
      tier: 0,
      weight: info.weight,
      senderId: info.senderId,
      excluded: info.enabled ? undefined : 'provider disabled',
      info,
    })),
    tierCount: 1,
    reason: 'no route matched: default route, every enabled provider at its own weight',
    country: undefined,
    messageClass: undefined,
  };
}
