/** Circuit breakers per provider (and country): what opens them, what they skip, how they recover. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger } from '../../../core/logger.ts';
import { ProviderError, type SendRequest } from '../../../providers/provider.ts';
import type { PlannedProvider } from '../../../routing/planner.ts';
import { BreakerRegistry } from './breakers.ts';
import {
  FakeProvider,
  accepts,
  unavailable,
  rejectsPermanently,
  requested,
  setup,
  dispatch,
  asSubmitted,
  asFailed,
  breakerState,
} from '../../../test/support/dispatch-harness.ts';

test('a permanent rejection never trips the breaker', async (t) => {
  const a = new FakeProvider('a', rejectsPermanently);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);

  for (let i = 0; i < 50; i++) asFailed(await dispatch(h, requested()));
  assert.equal(await breakerState(h.registry, 'a'), 0);

  a.answer(accepts);
  const submitted = asSubmitted(await dispatch(h, requested()));
  assert.equal(submitted.provider, 'a');
  assert.equal(a.calls, 51);
  assert.equal(b.calls, 0);
});

test('retryable failures beyond the volume threshold open the breaker and route around the provider', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);

  for (let i = 0; i < 5; i++) assert.equal(asSubmitted(await dispatch(h, requested())).provider, 'b');
  assert.equal(await breakerState(h.registry, 'a'), 2);
  assert.equal(await breakerState(h.registry, 'b'), 0);

  const callsWhenOpened = a.calls;
  for (let i = 0; i < 3; i++) {
    const submitted = asSubmitted(await dispatch(h, requested()));
    assert.equal(submitted.provider, 'b');
    assert.equal(submitted.attempt, 1, 'a provider behind an open breaker is planned last, not tried first');
  }
  assert.equal(a.calls, callsWhenOpened, 'an open breaker does not call its provider');
});

test('a half-open breaker lets exactly one probe through; the rest go elsewhere until it succeeds', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b], {
    breaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeoutMs: 50 },
  });
  for (let i = 0; i < 5; i++) await dispatch(h, requested());
  assert.equal(await breakerState(h.registry, 'a'), 2);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(await breakerState(h.registry, 'a'), 1, 'half-open after the reset timeout');

  let release: () => void = () => {};
  a.answer(
    (request) =>
      new Promise((resolve) => {
        release = () => resolve({ providerMessageId: `pm-${request.messageId}` });
      }),
  );
  const callsBefore = a.calls;
  const probe = dispatch(h, requested());
  const others = await Promise.all(Array.from({ length: 10 }, () => dispatch(h, requested())));
  assert.equal(a.calls - callsBefore, 1, 'one probe reached the provider');
  assert.ok(others.every((o) => asSubmitted(o).provider === 'b'));
  release();
  assert.equal(asSubmitted(await probe).provider, 'a');
  assert.equal(await breakerState(h.registry, 'a'), 0, 'the successful probe closes the breaker');
});

test('with per-country breakers, failures to one country do not stop traffic to another', async (t) => {
  const a = new FakeProvider('a', async (request) => {
    if (request.country === 'GB') throw new ProviderError('retryable', '503', 'GB route down');
    return { providerMessageId: `pm-${request.messageId}` };
  });
  const b = new FakeProvider('b');
  const h = setup(t, [a, b], {
    breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 60_000, perCountry: true },
  });
  for (let i = 0; i < 4; i++) await dispatch(h, requested({ to: '+447400123456' }));
  assert.equal(h.dispatcher.breakerOpen('a', 'GB'), true);
  assert.equal(h.dispatcher.breakerOpen('a', 'US'), false);
  assert.equal(asSubmitted(await dispatch(h, requested({ to: '+14155550123' }))).provider, 'a');
  assert.equal(asSubmitted(await dispatch(h, requested({ to: '+447400123457' }))).provider, 'b');
});

test('a breaker judges failures by counts alone: it keeps no latency per call, and still opens', async (t) => {
  const registry = new BreakerRegistry({
    registry: new Registry(),
    logger: createLogger({ level: 'silent' }),
  });
  t.after(() => registry.close());
  const a = new FakeProvider('a');
  const planned: PlannedProvider = {
    provider: 'a',
    adapter: a,
    definition: { name: 'a', type: 'http', breaker: { volumeThreshold: 10, errorThresholdPercentage: 50 } },
    senderId: undefined,
    costPerMessage: 0,
  };
  const breaker = registry.breakerFor(planned, 'US');
  const request = { messageId: 'm' } as SendRequest;
  for (let i = 0; i < 1_000; i++) await breaker.fire(request, AbortSignal.timeout(1_000));
  // opossum's default kept every latency of the window and sorted them all to judge each failure.
  assert.deepEqual(breaker.stats.latencyTimes, [], 'no per-call latencies in the window');
  assert.equal(breaker.stats.successes, 1_000);
  a.answer(unavailable);
  for (let i = 0; i < 1_100; i++)
    await breaker.fire(request, AbortSignal.timeout(1_000)).catch(() => undefined);
  assert.equal(breaker.opened, true, 'more than half the window failed: open');
});
