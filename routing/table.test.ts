import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProviderDefinition } from '../providers/registry.ts';
import { parseRouteRule, type RouteRule } from './rules.ts';
import { compileRouteTable, type RouteKey } from './table.ts';

const providers: ProviderDefinition[] = [
  { name: 'a', type: 'simulator', weight: 10 },
  { name: 'b', type: 'simulator', weight: 30 },
  { name: 'c', type: 'simulator', enabled: false },
];

function rule(id: string, fields: Partial<RouteRule> = {}): RouteRule {
  return parseRouteRule({ id, tiers: [[{ provider: 'a', weight: 1 }]], ...fields });
}

const uk: RouteKey = { tenantId: 't1', to: '+447700900123', country: 'GB', messageClass: 'otp' };

function winner(rules: RouteRule[], key: RouteKey = uk): string {
  return compileRouteTable(rules, providers).match(key).id;
}

test('with no rule, the default route holds every enabled provider in one tier at its own weight', () => {
  const route = compileRouteTable([], providers).match(uk);
  assert.equal(route.id, 'default');
  assert.equal(route.tierCount, 1);
  assert.deepEqual(
    route.entries.map((e) => [e.provider, e.weight, e.excluded]),
    [
      ['a', 10, undefined],
      ['b', 30, undefined],
      ['c', 1, 'provider disabled'],
    ],
  );
});

test('a tenant rule beats a rule for every tenant with a longer prefix', () => {
  assert.equal(
    winner([rule('any-long', { prefix: '447700' }), rule('tenant', { tenantId: 't1' })]),
    'tenant',
  );
});

test('a rule for another tenant never matches', () => {
  assert.equal(winner([rule('other', { tenantId: 't2' })]), 'default');
});

test('the longer prefix wins, whatever the priorities', () => {
  const rules = [
    rule('short', { prefix: '44', priority: 1 }),
    rule('long', { prefix: '4477', priority: 900 }),
    rule('country', { country: 'GB', priority: 0 }),
  ];
  assert.equal(winner(rules), 'long');
});

test('a prefix wins over a country, a country over a class, a class over a catch-all', () => {
  const all = [
    rule('catch-all', { priority: 0 }),
    rule('class', { messageClass: 'otp', priority: 0 }),
    rule('country', { country: 'GB', priority: 0 }),
    rule('prefix', { prefix: '4', priority: 50 }),
  ];
  assert.equal(winner(all), 'prefix');
  assert.equal(winner(all.slice(0, 3)), 'country');
  assert.equal(winner(all.slice(0, 2)), 'class');
  assert.equal(winner(all.slice(0, 1)), 'catch-all');
});

test('among equally specific rules the lower priority wins, then the smaller id', () => {
  assert.equal(
    winner([rule('x', { country: 'GB', priority: 20 }), rule('y', { country: 'GB', priority: 10 })]),
    'y',
  );
  assert.equal(
    winner([rule('y', { country: 'GB', priority: 10 }), rule('x', { country: 'GB', priority: 10 })]),
    'x',
  );
});

test('every criterion a rule names must match', () => {
  const gbSms = rule('gb-marketing', { country: 'GB', messageClass: 'marketing' });
  assert.equal(winner([gbSms]), 'default');
  assert.equal(winner([gbSms], { ...uk, messageClass: 'marketing' }), 'gb-marketing');
  assert.equal(winner([rule('us', { prefix: '1' })]), 'default');
  assert.equal(winner([rule('fr', { country: 'FR' })]), 'default');
});

test('a more specific rule that does not match falls through to a less specific one', () => {
  const rules = [rule('long-fr', { prefix: '4477', country: 'FR' }), rule('short', { prefix: '44' })];
  assert.equal(winner(rules), 'short');
});

test('the number matches with or without its +, and a prefix longer than the number never does', () => {
  const rules = [rule('p', { prefix: '447700900' })];
  assert.equal(winner(rules, { ...uk, to: '447700900123' }), 'p');
  assert.equal(winner([rule('long', { prefix: '4477009001234' })], uk), 'default');
});

test('disabled rules are left out of the table', () => {
  const table = compileRouteTable([rule('off', { enabled: false, country: 'GB' }), rule('on')], providers);
  assert.equal(table.match(uk).id, 'on');
  assert.deepEqual(
    table.rules.map((r) => r.id),
    ['on'],
  );
  assert.equal(table.route('off'), undefined);
});

test('entries for unknown, disabled or repeated providers are excluded once, at compile time', () => {
  const stored: RouteRule = {
    ...rule('r'),
    tiers: [
      [
        { provider: 'a', weight: 1 },
        { provider: 'ghost', weight: 1 },
      ],
      [
        { provider: 'c', weight: 1 },
        { provider: 'a', weight: 1 },
      ],
    ],
  };
  const entries = compileRouteTable([stored], providers).route('r')!.entries;
  assert.deepEqual(
    entries.map((e) => [e.provider, e.tier, e.excluded]),
    [
      ['a', 0, undefined],
      ['ghost', 0, 'unknown provider'],
      ['c', 1, 'provider disabled'],
      ['a', 1, 'listed in an earlier tier of this route'],
    ],
  );
});

test('the route reason names the criteria that matched', () => {
  const table = compileRouteTable(
    [rule('01J', { name: 'UK OTP', prefix: '44', messageClass: 'otp', priority: 5 })],
    providers,
  );
  assert.equal(
    table.match(uk).reason,
    'route 01J "UK OTP" matched on prefix 44, class otp (priority 5, weighted)',
  );
});

test('matching stays fast with many rules', () => {
  const many: RouteRule[] = [];
  for (let i = 0; i < 5000; i++)
    many.push(rule(`r${i}`, { prefix: String(1000 + i), tenantId: `t${i % 50}` }));
  const table = compileRouteTable(many, providers);
  const started = performance.now();
  for (let i = 0; i < 100_000; i++) table.match({ ...uk, tenantId: `t${i % 60}`, to: `+1${i}00000000` });
  const perMatchUs = ((performance.now() - started) / 100_000) * 1000;
  assert.ok(perMatchUs < 20, `${perMatchUs.toFixed(2)} µs per match`);
});
