import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from '../core/errors.ts';
import { parseRouteRule, ruleProviders } from './rules.ts';

test('a minimal route gets its defaults: priority 100, weighted, enabled', () => {
  assert.deepEqual(parseRouteRule({ id: 'r1', tiers: [[{ provider: 'a', weight: 1 }]] }), {
    id: 'r1',
    priority: 100,
    strategy: 'weighted',
    tiers: [[{ provider: 'a', weight: 1 }]],
    enabled: true,
  });
});

test('equal routes written in a different key order parse to the same JSON', () => {
  const one = parseRouteRule({
    tiers: [[{ weight: 2, provider: 'a', senderId: 'ACME' }]],
    country: 'GB',
    id: 'r',
    priority: 1,
  });
  const two = parseRouteRule({
    id: 'r',
    priority: 1,
    country: 'GB',
    tiers: [[{ provider: 'a', senderId: 'ACME', weight: 2 }]],
  });
  assert.equal(JSON.stringify(one), JSON.stringify(two));
});

test('a provider listed twice in one route is refused, naming both places', () => {
  assert.throws(
    () =>
      parseRouteRule({
        id: 'r',
        tiers: [[{ provider: 'a', weight: 1 }], [{ provider: 'a', weight: 1 }]],
      }),
    (err: unknown) =>
      isPigeonError(err) &&
      err.code === 'PIGEON_ERR_VALIDATION' &&
      err.errors?.[0]?.field === '/tiers/1/0/provider' &&
      /already listed at \/tiers\/0\/0\/provider/.test(err.message),
  );
});

test('unknown fields, bad countries, prefixes with + and empty tiers are refused', () => {
  const base = { id: 'r', tiers: [[{ provider: 'a', weight: 1 }]] };
  for (const bad of [
    { ...base, colour: 'red' },
    { ...base, country: 'gb' },
    { ...base, prefix: '+44' },
    { ...base, prefix: '044' },
    { ...base, tiers: [] },
    { ...base, tiers: [[]] },
    { ...base, tiers: [[{ provider: 'a', weight: -1 }]] },
    { ...base, qualityFloor: 1.5 },
    { ...base, strategy: 'round_robin' },
    { ...base, id: '' },
  ]) {
    assert.throws(
      () => parseRouteRule(bad),
      (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_VALIDATION',
      JSON.stringify(bad),
    );
  }
});

test('ruleProviders lists the providers in tier order', () => {
  assert.deepEqual(
    ruleProviders({
      tiers: [
        [
          { provider: 'b', weight: 1 },
          { provider: 'a', weight: 1 },
        ],
        [{ provider: 'c', weight: 1 }],
      ],
    }),
    ['b', 'a', 'c'],
  );
});
