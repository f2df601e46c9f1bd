import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../test/support/seeded-random.ts';
import type { MessageClass } from '../core/message.ts';
import type { ProviderDefinition } from '../providers/registry.ts';
import { planRoute, type RouteRequest, type RouteSignals } from './plan.ts';
import { parseRouteRule, type RouteRule } from './rules.ts';
import { compileRouteTable, type RouteTableOptions } from './table.ts';

const uk: RouteRequest = {
  tenantId: 't1',
  to: '+447700900123',
  country: 'GB',
  messageClass: 'transactional',
  segments: 1,
};

function table(
  rules: Array<Partial<RouteRule>>,
  definitions: ProviderDefinition[],
  options?: RouteTableOptions,
) {
  return compileRouteTable(
    rules.map((r, i) => parseRouteRule({ id: `r${i}`, ...r })),
    definitions,
    options,
  );
}

const sims = (...names: string[]): ProviderDefinition[] => names.map((name) => ({ name, type: 'simulator' }));

function health(values: Record<string, number>): RouteSignals {
  return { health: (provider) => values[provider] ?? 1 };
}

function firstShares(run: (random: () => number) => string[], n = 20_000, seed = 7): Record<string, number> {
  const random = seededRandom(seed);
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const first = run(random)[0] ?? 'none';
    counts[first] = (counts[first] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / n]));
}

test('weighted: the first choice follows weight × health', () => {
  const t = table(
    [
      {
        tiers: [
          [
            { provider: 'a', weight: 1 },
            { provider: 'b', weight: 3 },
            { provider: 'c', weight: 4 },
          ],
        ],
      },
    ],
    sims('a', 'b', 'c'),
  );
  const shares = firstShares((r) => planRoute(t, uk, health({ c: 0.5 }), r).order);
  // Effective weights 1, 3 and 2 of 6.
  assert.ok(Math.abs(shares.a! - 1 / 6) < 0.015, `a ${shares.a}`);
  assert.ok(Math.abs(shares.b! - 3 / 6) < 0.015, `b ${shares.b}`);
  assert.ok(Math.abs(shares.c! - 2 / 6) < 0.015, `c ${shares.c}`);
});

test('the same seed gives the same plan', () => {
  const t = table(
    [
      {
        tiers: [
          [
            { provider: 'a', weight: 1 },
            { provider: 'b', weight: 1 },
          ],
        ],
      },
    ],
    sims('a', 'b'),
  );
  assert.deepEqual(planRoute(t, uk, {}, seededRandom(3)), planRoute(t, uk, {}, seededRandom(3)));
});

test('no rule: the default route draws among every enabled provider at its definition weight', () => {
  const t = table(
    [],
    [
      { name: 'a', type: 'simulator', weight: 1 },
      { name: 'b', type: 'simulator', weight: 9 },
      { name: 'off', type: 'simulator', enabled: false },
    ],
  );
  const p = planRoute(t, uk, {}, seededRandom(1));
  assert.equal(p.routeId, 'default');
  assert.deepEqual([...p.order].sort(), ['a', 'b']);
  assert.deepEqual(p.candidates.at(-1), {
    provider: 'off',
    tier: 0,
    weight: 1,
    health: 0,
    effectiveWeight: 0,
    costPerMessage: null,
    excluded: 'provider disabled',
  });
  const shares = firstShares((r) => planRoute(t, uk, {}, r).order);
  assert.ok(Math.abs(shares.b! - 0.9) < 0.01, `b ${shares.b}`);
});

test('every provider of tier 0 is tried before tier 1, and tier 1 before tier 2', () => {
  const t = table(
    [
      {
        tiers: [
          [
            { provider: 'a', weight: 1 },
            { provider: 'b', weight: 1 },
          ],
          [{ provider: 'c', weight: 100 }],
          [{ provider: 'd', weight: 1 }],
        ],
      },
    ],
    sims('a', 'b', 'c', 'd'),
  );
  const random = seededRandom(11);
  for (let i = 0; i < 200; i++) {
    const order = planRoute(t, uk, {}, random).order;
    assert.deepEqual(order.slice(2), ['c', 'd']);
    assert.deepEqual([...order.slice(0, 2)].sort(), ['a', 'b']);
  }
});

test('a provider with an open breaker or health 0 goes after the healthy ones of every tier, still listed', () => {
  const t = table(
    [
      {
        tiers: [
          [
            { provider: 'a', weight: 1 },
            { provider: 'dead', weight: 1 },
            { provider: 'open', weight: 1 },
          ],
          [{ provider: 'b', weight: 1 }],
        ],
      },
    ],
    sims('a', 'b', 'dead', 'open'),
  );
  const signals: RouteSignals = {
    health: (p) => (p === 'dead' ? 0 : 1),
    breakerOpen: (p, country) => p === 'open' && country === 'GB',
  };
  const p = planRoute(t, { ...uk, messageClass: 'otp' }, signals, seededRandom(5));
  assert.deepEqual(p.order, ['a', 'b', 'dead', 'open']);
  const open = p.candidates.find((c) => c.provider === 'open')!;
  assert.equal(open.health, 1);
  assert.equal(open.effectiveWeight, 0);
  assert.ok(p.explanation.some((line) => line.includes('dead (health 0), open (breaker open)')));
});

test('a breaker open for another country does not touch this message', () => {
  const t = table([], sims('a', 'b'));
  const p = planRoute(t, uk, { breakerOpen: (_p, country) => country === 'US' }, seededRandom(2));
  assert.ok(p.candidates.every((c) => c.effectiveWeight === 1));
});

test('health is 1 when no signal is given and is clamped to 0..1', () => {
  const t = table([], sims('a', 'b', 'c'));
  const p = planRoute(t, uk, health({ b: 7, c: -2 }), seededRandom(2));
  const byName = Object.fromEntries(p.candidates.map((c) => [c.provider, c.health]));
  assert.deepEqual(byName, { a: 1, b: 1, c: 0 });
});

test('a health-0 provider is probed first for about probeRatio of transactional and marketing messages', () => {
  const t = table(
    [],
    [
      { name: 'a', type: 'simulator', weight: 1 },
      { name: 'dead', type: 'simulator', weight: 1 },
    ],
    { probeRatio: 0.05 },
  );
  for (const messageClass of ['transactional', 'marketing'] as const) {
    const shares = firstShares((r) => planRoute(t, { ...uk, messageClass }, health({ dead: 0 }), r).order);
    assert.ok(Math.abs((shares.dead ?? 0) - 0.05) < 0.006, `${messageClass}: dead first ${shares.dead}`);
  }
  const probed = planRoute(t, uk, health({ dead: 0 }), () => 0.01);
  assert.deepEqual(probed.order, ['dead', 'a']);
  assert.ok(probed.explanation.some((line) => line.startsWith('probe: dead')));
});

test('the default probe ratio is 2 %', () => {
  const t = table([], sims('a', 'dead'));
  const shares = firstShares((r) => planRoute(t, uk, health({ dead: 0 }), r).order);
  assert.ok(Math.abs((shares.dead ?? 0) - 0.02) < 0.004, `dead first ${shares.dead}`);
});

test('OTP and alert traffic never probes a dead provider', () => {
  const t = table([], sims('a', 'dead'), { probeRatio: 0.5 });
  for (const messageClass of ['otp', 'alert'] as MessageClass[]) {
    const shares = firstShares(
      (r) => planRoute(t, { ...uk, messageClass }, health({ dead: 0 }), r).order,
      5000,
    );
    assert.equal(shares.dead, undefined, messageClass);
  }
});

test('a provider whose breaker is open, or whose weight is 0, is never probed', () => {
  const t = table(
    [
      {
        tiers: [
          [
            { provider: 'a', weight: 1 },
            { provider: 'open', weight: 1 },
            { provider: 'drained', weight: 0 },
          ],
        ],
      },
    ],
    sims('a', 'open', 'drained'),
    {
      probeRatio: 1,
    },
  );
  const signals: RouteSignals = { health: (p) => (p === 'a' ? 1 : 0), breakerOpen: (p) => p === 'open' };
  const shares = firstShares((r) => planRoute(t, uk, signals, r).order, 2000);
  assert.deepEqual(shares, { a: 1 });
});

test('when several dead providers are eligible, each is probed about equally often', () => {
  const t = table([], sims('a', 'd1', 'd2'), { probeRatio: 0.2 });
  const shares = firstShares((r) => planRoute(t, uk, health({ d1: 0, d2: 0 }), r).order);
  assert.ok(Math.abs(shares.d1! - 0.1) < 0.01 && Math.abs(shares.d2! - 0.1) < 0.01, JSON.stringify(shares));
});

const priced: ProviderDefinition[] = [
  { name: 'cheap', type: 'simulator', prices: { GB: 0.01, '*': 0.05 } },
  { name: 'mid', type: 'simulator', prices: { '*': 0.02 } },
  { name: 'dear', type: 'simulator', prices: { GB: 0.04 } },
  { name: 'unpriced', type: 'simulator' },
];
const leastCost = {
  strategy: 'least_cost' as const,
  tiers: [['dear', 'unpriced', 'mid', 'cheap'].map((provider) => ({ provider, weight: 1 }))],
};

test('least cost: cheapest first for the destination country, with * as fallback, unpriced last', () => {
  const t = table([leastCost], priced);
  const p = planRoute(t, { ...uk, segments: 3 }, {}, seededRandom(1));
  assert.deepEqual(p.order, ['cheap', 'mid', 'dear', 'unpriced']);
  assert.deepEqual(
    p.candidates.map((c) => c.costPerMessage),
    [0.03, 0.06, 0.12, null],
  );
  const us = planRoute(t, { ...uk, to: '+14155550123', country: 'US' }, {}, seededRandom(1));
  // `dear` has no price for the US and no `*`: it is as unpriced as `unpriced`.
  assert.deepEqual(us.order.slice(0, 2), ['mid', 'cheap']);
  assert.deepEqual(
    us.candidates.slice(2).map((c) => c.costPerMessage),
    [null, null],
  );
});

test('least cost: a provider below the quality floor follows every one above it, however cheap', () => {
  const t = table([leastCost], priced);
  const p = planRoute(t, uk, health({ cheap: 0.49 }), seededRandom(1));
  assert.deepEqual(p.order, ['mid', 'dear', 'unpriced', 'cheap']);
  const lowered = table([{ ...leastCost, qualityFloor: 0.4 }], priced);
  assert.equal(planRoute(lowered, uk, health({ cheap: 0.49 }), seededRandom(1)).order[0], 'cheap');
});

test('least cost: below the floor, providers are drawn by weight × health', () => {
  const t = table(
    [
      {
        strategy: 'least_cost',
        tiers: [
          [
            { provider: 'x', weight: 1 },
            { provider: 'y', weight: 1 },
            { provider: 'ok', weight: 1 },
          ],
        ],
      },
    ],
    sims('x', 'y', 'ok'),
  );
  const shares = firstShares((r) => planRoute(t, uk, health({ x: 0.1, y: 0.3, ok: 1 }), r).order.slice(1));
  assert.ok(Math.abs(shares.y! - 0.75) < 0.015, `y ${shares.y}`);
});

test('least cost: providers of equal cost are ordered by weighted draw', () => {
  const t = table(
    [
      {
        strategy: 'least_cost',
        tiers: [
          [
            { provider: 'p', weight: 1 },
            { provider: 'q', weight: 3 },
            { provider: 'r', weight: 1 },
          ],
        ],
      },
    ],
    [
      { name: 'p', type: 'simulator', prices: { '*': 0.01 } },
      { name: 'q', type: 'simulator', prices: { '*': 0.01 } },
      { name: 'r', type: 'simulator', prices: { '*': 0.001 } },
    ],
  );
  const shares = firstShares((r) => planRoute(t, uk, {}, r).order.slice(1));
  assert.ok(Math.abs(shares.q! - 0.75) < 0.015, `q ${shares.q}`);
  assert.equal(planRoute(t, uk, {}, seededRandom(1)).order[0], 'r');
});

test('unknown and disabled providers are excluded with a reason and never tried', () => {
  const stored: RouteRule = {
    id: 'r',
    priority: 1,
    strategy: 'weighted',
    enabled: true,
    tiers: [
      [
        { provider: 'a', weight: 1 },
        { provider: 'gone', weight: 1 },
        { provider: 'off', weight: 1 },
      ],
    ],
  };
  const t = compileRouteTable([stored], [...sims('a'), { name: 'off', type: 'simulator', enabled: false }]);
  const p = planRoute(t, uk, {}, seededRandom(1));
  assert.deepEqual(p.order, ['a']);
  assert.deepEqual(
    p.candidates.map((c) => [c.provider, c.excluded]),
    [
      ['a', undefined],
      ['gone', 'unknown provider'],
      ['off', 'provider disabled'],
    ],
  );
  assert.ok(p.explanation.includes('gone excluded: unknown provider'));
});

test("sender id: the route entry's, else the provider's, else the message's own", () => {
  const t = table(
    [
      {
        tiers: [
          [
            { provider: 'a', weight: 1, senderId: 'ROUTE' },
            { provider: 'b', weight: 1 },
            { provider: 'c', weight: 1 },
          ],
        ],
      },
    ],
    [
      { name: 'a', type: 'simulator', senderId: 'PROV-A' },
      { name: 'b', type: 'simulator', senderId: 'PROV-B' },
      { name: 'c', type: 'simulator' },
    ],
  );
  const p = planRoute(t, { ...uk, from: 'MSG' }, {}, seededRandom(1));
  const senders = Object.fromEntries(p.candidates.map((c) => [c.provider, c.senderId]));
  assert.deepEqual(senders, { a: 'ROUTE', b: 'PROV-B', c: 'MSG' });
  const noFrom = planRoute(t, uk, {}, seededRandom(1));
  assert.equal(noFrom.candidates.find((c) => c.provider === 'c')!.senderId, undefined);
});

test('the explanation says which route, how each tier was ordered and the final order', () => {
  const t = table(
    [{ name: 'UK', country: 'GB', tiers: [[{ provider: 'a', weight: 2 }], [{ provider: 'b', weight: 1 }]] }],
    sims('a', 'b'),
  );
  const p = planRoute(t, uk, health({ a: 0.5 }), seededRandom(1));
  assert.equal(p.routeId, 'r0');
  assert.equal(p.routeName, 'UK');
  assert.deepEqual(p.explanation, [
    'route r0 "UK" matched on country GB (priority 100, weighted)',
    'tier 0, weighted draw over weight × health: a 2 × 0.5 = 1',
    'tier 1, weighted draw over weight × health: b 1 × 1 = 1',
    'order: a → b',
  ]);
});

test('a route whose every provider is excluded plans nothing to try', () => {
  const t = table(
    [{ tiers: [[{ provider: 'off', weight: 1 }]] }],
    [{ name: 'off', type: 'simulator', enabled: false }],
  );
  const p = planRoute(t, uk, {}, seededRandom(1));
  assert.deepEqual(p.order, []);
  assert.equal(p.explanation.at(-1), 'no provider to try');
});

test('planning stays cheap on the hot path', () => {
  const t = table(
    [
      {
        country: 'GB',
        tiers: [
          [
            { provider: 'a', weight: 1 },
            { provider: 'b', weight: 2 },
            { provider: 'c', weight: 3 },
          ],
          [{ provider: 'd', weight: 1 }],
        ],
      },
    ],
    sims('a', 'b', 'c', 'd'),
  );
  const signals = health({ b: 0.7 });
  const started = performance.now();
  for (let i = 0; i < 50_000; i++) planRoute(t, uk, signals);
  const perPlanUs = ((performance.now() - started) / 50_000) * 1000;
  assert.ok(perPlanUs < 50, `${perPlanUs.toFixed(2)} µs per plan`);
});

test('a plan made without its explanation tries the same providers in the same order', () => {
  const t = table(
    [
      {
        strategy: 'least_cost',
        tiers: [
          [
            { provider: 'cheap', weight: 1 },
            { provider: 'pricey', weight: 2 },
            { provider: 'weak', weight: 3 },
          ],
          [
            { provider: 'spare', weight: 1 },
            { provider: 'dead', weight: 1 },
          ],
        ],
      },
    ],
    [
      { name: 'cheap', type: 'simulator', prices: { GB: 0.01 } },
      { name: 'pricey', type: 'simulator', prices: { GB: 0.05 } },
      { name: 'weak', type: 'simulator', prices: { GB: 0.001 } },
      { name: 'spare', type: 'simulator' },
      { name: 'dead', type: 'simulator' },
    ],
  );
  const signals = health({ weak: 0.2, dead: 0 });
  for (let seed = 1; seed <= 200; seed++) {
    const explained = planRoute(t, uk, signals, seededRandom(seed));
    const silent = planRoute(t, uk, signals, seededRandom(seed), { explain: false });
    assert.deepEqual(silent.order, explained.order, `seed ${seed}`);
    assert.deepEqual(silent.candidates, explained.candidates, `seed ${seed}`);
    assert.ok(explained.explanation.length > 1);
    assert.deepEqual(silent.explanation, []);
  }
});
