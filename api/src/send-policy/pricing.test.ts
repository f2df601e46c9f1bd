import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProviderInfo } from '../../../routing/table.ts';
import { costMicros, estimateCostMicros, pricePerPart } from './pricing.ts';

const provider = (name: string, prices: Record<string, number>, enabled = true): ProviderInfo => ({
  name,
  weight: 1,
  enabled,
  senderId: undefined,
  prices: new Map(Object.entries(prices)),
});

test("a country is priced at the dearest enabled provider's price for it, else its `*` price", () => {
  const providers = [
    provider('a', { GB: 0.04, '*': 0.01 }),
    provider('b', { NG: 0.3, '*': 0.02 }),
    provider('off', { GB: 5 }, false),
  ];
  assert.equal(pricePerPart(providers, 'GB', 0.05), 0.04);
  assert.equal(pricePerPart(providers, 'NG', 0.05), 0.3);
  assert.equal(pricePerPart(providers, 'US', 0.05), 0.02);
  assert.equal(pricePerPart(providers, undefined, 0.05), 0.02);
});

test('the fallback price applies when no enabled provider prices the country', () => {
  assert.equal(pricePerPart([], 'GB', 0.05), 0.05);
  assert.equal(pricePerPart([provider('a', { FR: 0.1 })], 'GB', 0.07), 0.07);
});

test('costs are whole millionths of parts × price', () => {
  assert.equal(costMicros(3, 0.1), 300_000);
  assert.equal(costMicros(1, 0.0000004), 0);
});

test("a send's estimate is its parts at its country's price, else at the fallback", () => {
  const providers = [provider('a', { GB: 0.04 }), provider('b', { GB: 0.07 })];
  assert.equal(estimateCostMicros(providers, 'GB', 2, 0.05), 140_000);
  assert.equal(estimateCostMicros(providers, 'US', 2, 0.05), 100_000);
  assert.equal(estimateCostMicros([], 'GB', 1, 0.0475), 47_500);
});
