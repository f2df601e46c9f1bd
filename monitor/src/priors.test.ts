import assert from 'node:assert/strict';
import { test } from 'node:test';
import { priorRange, priorsFrom } from './priors.ts';

const totals = [
  { provider: 'twilio', country: 'GB', submitted: 1_000, delivered: 970 },
  { provider: 'twilio', country: 'IN', submitted: 400, delivered: 280 },
  { provider: 'vonage', country: 'FR', submitted: 49, delivered: 0 },
];

test('yesterday’s delivered rate is the prior where it rests on enough messages', () => {
  const prior = priorsFrom([], totals);
  assert.equal(prior('delivered_rate', 'twilio', 'GB'), 0.97);
  assert.equal(prior('delivered_rate', 'twilio', 'IN'), 0.7);
  assert.equal(prior('delivered_rate', 'vonage', 'FR'), undefined, '49 messages are too few');
  assert.equal(prior('delivered_rate', 'twilio', 'DE'), undefined);
  assert.equal(prior('otp_conversion_rate', 'twilio', 'GB'), undefined, 'conversion has no prior');
});

test('the configured rate wins over yesterday’s, per country with `*` for the rest', () => {
  const prior = priorsFrom(
    [
      { name: 'twilio', expectedDeliveredRate: { IN: 0.5, '*': 0.95 } },
      { name: 'smpp-bulk', expectedDeliveredRate: 0 },
      { name: 'vonage' },
    ],
    totals,
  );
  assert.equal(prior('delivered_rate', 'twilio', 'IN'), 0.5);
  assert.equal(prior('delivered_rate', 'twilio', 'GB'), 0.95);
  // 0: a route without receipts; its baseline then says the signal means nothing there.
  assert.equal(prior('delivered_rate', 'smpp-bulk', 'GB'), 0);
  assert.equal(prior('delivered_rate', 'vonage', 'FR'), undefined);
});

test('a configured rate per country without `*` leaves other countries to yesterday’s rate', () => {
  const prior = priorsFrom([{ name: 'twilio', expectedDeliveredRate: { IN: 0.5 } }], totals);
  assert.equal(prior('delivered_rate', 'twilio', 'GB'), 0.97);
});

test('the prior reads a day of messages ending a quarter hour ago, when their receipts are in', () => {
  const now = 1_767_225_600_000;
  assert.deepEqual(priorRange(now), { since: now - 15 * 60_000 - 86_400_000, until: now - 15 * 60_000 });
});
