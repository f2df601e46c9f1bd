import type { MessageClass } from '../core/message.ts';
import { drawOrder } from './weighted-order.ts';
import type { CompiledEntry, CompiledRoute, RouteKey, RouteTable } from './table.ts';
import type { RouteStrategy } from './rules.ts';

/** The message being routed. */
export interface RouteRequest extends RouteKey {
  segments: number;
  /** The message's own sender id, used when neither the route nor the provider names one. */
  from?: string | undefined;
}

/** What routing learns from outside the table, per provider and destination country. */
export interface RouteSignals {
  /** 0 (dead) to 1 (healthy); 1 when absent. */
  health?(provider: string, country: string | undefined): number;
  breakerOpen?(provider: string, country: string | undefined): boolean;
}

export interface RouteCandidate {
  provider: string;
  tier: number;
  /** The route entry's weight (the provider's own weight on the default route). */
  weight: number;
  health: number;
  /** weight × health, or 0 while the breaker is open. */
  effectiveWeight: number;
  /** segments × price for the destination country; null when the provider has no price for it. */
  costPerMessage: number | null;
  senderId?: string;
  /** Why this provider is not tried at all. */
  excluded?: string;
}

export interface RoutePlan {
  /** The matched rule's id, or `default`. */
  routeId: string;
  routeName?: string;
  strategy: RouteStrategy;
  /** Providers to try, in order. */
  order: string[];
  /** Candidates in the order tried, then the excluded ones. */
  candidates: RouteCandidate[];
  /** Why, step by step; empty when planned with `explain: false`. */
  explanation: string[];
}

export interface PlanOptions {
  /**
   * Whether to say why (default true). The dispatcher plans every message and never reads the
   * explanation; building its strings took most of a decision's time.
   */
  explain?: boolean;
}

/**
 * Probes ride only traffic that tolerates a failed first attempt: an OTP or an on-call page must
 * not spend its first try on a provider believed dead.
 */
const PROBE_CLASSES: ReadonlySet<MessageClass> = new Set<MessageClass>(['transactional', 'marketing']);

interface Live {
  candidate: RouteCandidate;
  breakerOpen: boolean;
  /** Cost for sorting; a provider without a price sorts after every priced one. */
  costKey: number;
}

/**
 * Decides which providers to offer a message to, in order, and says why. Pure: the health and
 * breaker signals and the random source are passed in.
 *
 * Within a tier, `weighted` draws a weighted random order over weight × health; `least_cost`
 * orders providers at or above the quality floor by cost (equal costs by weighted draw), then
 * those below it by weighted draw. Tiers follow one another. Providers with no effective weight
 * (health 0, breaker open, weight 0) come after every other provider of every tier, as a last
 * resort — except that a share `probeRatio` of transactional and marketing messages is offered
 * first to a health-0 provider whose breaker is closed, so a provider marked dead is still tried
 * now and then and can show it recovered.
 */
export function planRoute(
  table: RouteTable,
  request: RouteRequest,
  signals: RouteSignals = {},
  random: () => number = Math.random,
  { explain = true }: PlanOptions = {},
): RoutePlan {
  const route = table.match(request);
  // `explanation?.push(…)` skips building the argument too when not explaining.
  const explanation = explain ? [route.reason] : undefined;
  const tiers: Live[][] = Array.from({ length: route.tierCount }, () => []);
  const lastResort: Live[] = [];
  const excluded: RouteCandidate[] = [];

  for (const entry of route.entries) {
    if (entry.excluded !== undefined) {
      excluded.push(excludedCandidate(entry, request));
      explanation?.push(`${entry.provider} excluded: ${entry.excluded}`);
      continue;
    }
    const live = liveCandidate(entry, request, signals);
    if (live.candidate.effectiveWeight > 0) tiers[entry.tier]!.push(live);
    else lastResort.push(live);
  }

  const order: Live[] = [];
  tiers.forEach((tier, t) => {
    if (tier.length === 0) return;
    order.push(...orderTier(route, tier, t, random, explanation));
  });

  if (lastResort.length > 0) {
    // Among the last resorts, a closed breaker may yet succeed; an open one fails at once.
    lastResort.sort(
      (a, b) =>
        Number(a.breakerOpen) - Number(b.breakerOpen) ||
        a.candidate.tier - b.candidate.tier ||
        b.candidate.weight - a.candidate.weight,
    );
    explanation?.push(`last resort, after every other provider: ${lastResort.map(whyLastResort).join(', ')}`);
    const probe = pickProbe(table, request, lastResort, random);
    if (probe) {
      lastResort.splice(lastResort.indexOf(probe), 1);
      order.unshift(probe);
      explanation?.push(
        `probe: ${probe.candidate.provider} has health 0 and a closed breaker; tried first so that a recovery shows (${table.probeRatio} of ${request.messageClass} messages)`,
      );
    }
    order.push(...lastResort);
  }

  const names = order.map((l) => l.candidate.provider);
  explanation?.push(names.length > 0 ? `order: ${names.join(' → ')}` : 'no provider to try');
  const result: RoutePlan = {
    routeId: route.id,
    strategy: route.strategy,
    order: names,
    candidates: [...order.map((l) => l.candidate), ...excluded],
    explanation: explanation ?? [],
  };
  if (route.name !== undefined) result.routeName = route.name;
  return result;
}

function liveCandidate(entry: CompiledEntry, request: RouteRequest, signals: RouteSignals): Live {
  const reported = signals.health?.(entry.provider, request.country);
  const health = reported === undefined || Number.isNaN(reported) ? 1 : Math.min(1, Math.max(0, reported));
  const breakerOpen = signals.breakerOpen?.(entry.provider, request.country) ?? false;
  const costPerMessage = cost(entry, request);
  const candidate: RouteCandidate = {
    provider: entry.provider,
    tier: entry.tier,
    weight: entry.weight,
    health,
    effectiveWeight: breakerOpen ? 0 : entry.weight * health,
    costPerMessage,
  };
  const senderId = entry.senderId ?? request.from;
  if (senderId !== undefined) candidate.senderId = senderId;
  return { candidate, breakerOpen, costKey: costPerMessage ?? Number.POSITIVE_INFINITY };
}

function excludedCandidate(entry: CompiledEntry, request: RouteRequest): RouteCandidate {
  const candidate: RouteCandidate = {
    provider: entry.provider,
    tier: entry.tier,
    weight: entry.weight,
    health: 0,
    effectiveWeight: 0,
    costPerMessage: cost(entry, request),
    excluded: entry.excluded!,
  };
  const senderId = entry.senderId ?? request.from;
  if (senderId !== undefined) candidate.senderId = senderId;
  return candidate;
}

function cost(entry: CompiledEntry, request: RouteRequest): number | null {
  const prices = entry.info?.prices;
  if (!prices) return null;
  const price = (request.country === undefined ? undefined : prices.get(request.country)) ?? prices.get('*');
  // Rounded to the micro-unit so that equal prices compare equal after the multiplication.
  return price === undefined ? null : Math.round(price * request.segments * 1e6) / 1e6;
}

function orderTier(
  route: CompiledRoute,
  tier: Live[],
  t: number,
  random: () => number,
  explanation: string[] | undefined,
): Live[] {
  if (route.strategy === 'weighted') {
    explanation?.push(
      `tier ${t}, weighted draw over weight × health: ${tier.map(describeWeight).join(', ')}`,
    );
    return byWeightedDraw(tier, random);
  }
  const floor = route.qualityFloor;
  const above = tier
    .filter((l) => l.candidate.health >= floor)
    .sort((a, b) => (a.costKey === b.costKey ? 0 : a.costKey < b.costKey ? -1 : 1));
  const below = tier.filter((l) => l.candidate.health < floor);
  const ordered: Live[] = [];
  for (let i = 0; i < above.length;) {
    let j = i + 1;
    while (j < above.length && above[j]!.costKey === above[i]!.costKey) j++;
    ordered.push(...byWeightedDraw(above.slice(i, j), random));
    i = j;
  }
  ordered.push(...byWeightedDraw(below, random));
  explanation?.push(`tier ${t}, least cost: ${describeLeastCost(floor, above, below)}`);
  return ordered;
}

function describeLeastCost(floor: number, above: Live[], below: Live[]): string {
  return [
    above.length > 0 ? `cheapest first among health ≥ ${floor}: ${above.map(describeCost).join(', ')}` : '',
    below.length > 0 ? `then below the floor by weighted draw: ${below.map(describeWeight).join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

function byWeightedDraw(live: Live[], random: () => number): Live[] {
  if (live.length <= 1) return live;
  return drawOrder(live, effectiveWeightOf, random);
}

const effectiveWeightOf = (l: Live) => l.candidate.effectiveWeight;

function pickProbe(table: RouteTable, request: RouteRequest, lastResort: Live[], random: () => number) {
  if (table.probeRatio <= 0 || !PROBE_CLASSES.has(request.messageClass)) return undefined;
  // Weight 0 is an operator draining the provider, not a health verdict: never probed.
  const eligible = lastResort.filter(
    (l) => l.candidate.health === 0 && !l.breakerOpen && l.candidate.weight > 0,
  );
  if (eligible.length === 0) return undefined;
  const draw = random();
  if (draw >= table.probeRatio) return undefined;
  // The same draw, rescaled, picks which one: every eligible provider is probed equally often.
  return eligible[Math.min(eligible.length - 1, Math.floor((draw / table.probeRatio) * eligible.length))];
}

const fmt = (n: number) => String(Math.round(n * 1e4) / 1e4);

function describeWeight(l: Live): string {
  const c = l.candidate;
  return `${c.provider} ${fmt(c.weight)} × ${fmt(c.health)} = ${fmt(c.effectiveWeight)}`;
}

function describeCost(l: Live): string {
  const c = l.candidate;
  return `${c.provider} ${c.costPerMessage === null ? 'no price' : fmt(c.costPerMessage)} (health ${fmt(c.health)})`;
}

function whyLastResort(l: Live): string {
  const c = l.candidate;
  const reason = l.breakerOpen ? 'breaker open' : c.health === 0 ? 'health 0' : 'weight 0';
  return `${c.provider} (${reason})`;
}
