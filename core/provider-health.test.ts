import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventDecodeError } from './events.ts';
import {
  decodeProviderHealth,
  encodeProviderHealth,
  HealthBoard,
  providerHealthEvent,
} from './provider-health.ts';

const T0 = 1_767_225_600_000;

function clock(start = T0) {
  const c = { t: start, now: () => c.t };
  return c;
}

test('an event survives encoding and decoding unchanged', () => {
  const event = providerHealthEvent(
    { provider: 'acme', country: 'GB', health: 0.25, reason: 'dlr ratio 25 %' },
    T0,
  );
  assert.deepEqual(decodeProviderHealth(encodeProviderHealth(event)), event);
  assert.equal(event.type, 'provider.health');
  assert.equal(event.occurredAt, new Date(T0).toISOString());
});

test('a verdict without a country covers every country', () => {
  assert.equal(providerHealthEvent({ provider: 'acme', health: 1, reason: 'ok' }).country, '*');
});

test('malformed events are refused with EventDecodeError', () => {
  const good = providerHealthEvent({ provider: 'acme', health: 0.5, reason: 'x' }, T0);
  for (const raw of [
    'not json',
    JSON.stringify({ ...good, health: 1.5 }),
    JSON.stringify({ ...good, country: 'gb' }),
    JSON.stringify({ ...good, type: 'message.failed' }),
    JSON.stringify({ ...good, occurredAt: 'yesterday' }),
    JSON.stringify({ ...good, provider: undefined }),
  ]) {
    assert.throws(() => decodeProviderHealth(raw), EventDecodeError, raw);
  }
});

test('a provider nobody reported on is healthy', () => {
  assert.equal(new HealthBoard().health('acme', 'GB'), 1);
});

test("a country's own verdict wins; other countries fall back to the provider's * verdict", () => {
  const c = clock();
  const board = new HealthBoard({ now: c.now });
  board.apply(providerHealthEvent({ provider: 'acme', health: 0.8, reason: 'all' }, T0));
  board.apply(providerHealthEvent({ provider: 'acme', country: 'GB', health: 0, reason: 'gb down' }, T0));
  assert.equal(board.health('acme', 'GB'), 0);
  assert.equal(board.health('acme', 'FR'), 0.8);
  assert.equal(board.health('acme', undefined), 0.8);
  assert.equal(board.health('other', 'GB'), 1);
});

test('a verdict not refreshed within the TTL expires back to healthy', () => {
  const c = clock();
  const board = new HealthBoard({ ttlMs: 60_000, now: c.now });
  board.apply(providerHealthEvent({ provider: 'acme', country: 'GB', health: 0, reason: 'down' }, T0));
  board.apply(providerHealthEvent({ provider: 'acme', health: 0.4, reason: 'slow' }, T0 + 30_000));
  c.t = T0 + 59_999;
  assert.equal(board.health('acme', 'GB'), 0);
  c.t = T0 + 60_000;
  assert.equal(board.health('acme', 'GB'), 0.4, 'GB expired; * still holds');
  c.t = T0 + 90_000;
  assert.equal(board.health('acme', 'GB'), 1);
  assert.deepEqual(board.snapshot(), []);
});

test('the default TTL is ten minutes', () => {
  const c = clock();
  const board = new HealthBoard({ now: c.now });
  board.apply(providerHealthEvent({ provider: 'acme', health: 0, reason: 'down' }, T0));
  c.t = T0 + 10 * 60_000 - 1;
  assert.equal(board.health('acme', 'GB'), 0);
  c.t = T0 + 10 * 60_000;
  assert.equal(board.health('acme', 'GB'), 1);
});

test('an older verdict arriving late does not replace a newer one', () => {
  const c = clock(T0 + 5000);
  const board = new HealthBoard({ now: c.now });
  board.apply(providerHealthEvent({ provider: 'acme', health: 1, reason: 'recovered' }, T0 + 2000));
  board.apply(providerHealthEvent({ provider: 'acme', health: 0, reason: 'down' }, T0 + 1000));
  assert.equal(board.health('acme', 'US'), 1);
});

test('a replayed verdict older than the TTL has no effect', () => {
  const c = clock(T0 + 3_600_000);
  const board = new HealthBoard({ now: c.now });
  board.apply(providerHealthEvent({ provider: 'acme', health: 0, reason: 'old outage' }, T0));
  assert.equal(board.health('acme', 'GB'), 1);
});

test('snapshot lists the verdicts in force', () => {
  const c = clock();
  const board = new HealthBoard({ now: c.now });
  board.apply(providerHealthEvent({ provider: 'b', country: 'GB', health: 0.5, reason: 'slow' }, T0));
  board.apply(providerHealthEvent({ provider: 'a', health: 0, reason: 'down' }, T0));
  assert.deepEqual(board.snapshot(), [
    { provider: 'a', country: '*', health: 0, reason: 'down', occurredAt: new Date(T0).toISOString() },
    { provider: 'b', country: 'GB', health: 0.5, reason: 'slow', occurredAt: new Date(T0).toISOString() },
  ]);
});
