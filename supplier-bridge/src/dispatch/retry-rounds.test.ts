/** Later rounds after every provider refused: their waits, their limit, expiry and the retry budget. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FakeProvider,
  accepts,
  unavailable,
  T0,
  requested,
  setup,
  dispatchPass,
  asSubmitted,
  asFailed,
} from '../../../test/support/dispatch-harness.ts';
import { passFromHeaders } from './pass-headers.ts';
import { RetryBudget, SlidingCount } from './retry-rounds.ts';

test('when every provider refuses without sending, a retry round is scheduled on a delay topic', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const b = new FakeProvider('b', unavailable);
  const h = setup(t, [a, b]);
  const message = requested();

  const result = await dispatchPass(h, message);

  assert.equal(result.outcome, undefined, 'the message stays queued');
  assert.equal(a.calls + b.calls, 2);
  const followUp = result.followUp;
  assert.ok(followUp);
  assert.match(followUp.topic, /^sms\.delay\./);
  const pass = passFromHeaders(followUp.record.headers, h.clock.now);
  assert.equal(pass?.kind, 'retry');
  assert.equal(pass?.round, 1);
  assert.equal(pass?.attemptsSoFar, 2);
  assert.ok(
    pass && pass.dueAt > h.clock.now && pass.dueAt <= h.clock.now + 1_200,
    'first retry about a second later',
  );
});

test('a retry round that finds a provider back submits the message, counting earlier attempts', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const h = setup(t, [a]);
  const message = requested();
  const first = await dispatchPass(h, message);
  const pass = passFromHeaders(first.followUp!.record.headers, h.clock.now)!;

  a.answer(accepts);
  h.clock.now = pass.dueAt;
  const submitted = asSubmitted((await h.dispatcher.dispatch(message, pass)).outcome);

  assert.equal(submitted.attempt, 2);
  assert.equal(a.calls, 2);
});

test('retry rounds stop at expiry: the round due then fails the message as expired without a call', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const h = setup(t, [a]);
  const message = requested({ ttlSeconds: 60 });
  let result = await dispatchPass(h, message);
  let rounds = 0;
  while (result.followUp) {
    const pass = passFromHeaders(result.followUp.record.headers, h.clock.now)!;
    h.clock.now = pass.dueAt;
    result = await h.dispatcher.dispatch(message, pass);
    rounds++;
    assert.ok(rounds < 20, 'rounds are bounded');
  }
  const failed = asFailed(result.outcome);
  assert.equal(failed.status, 'expired');
  assert.ok(h.clock.now <= Date.parse(message.expiresAt), 'never scheduled past expiry');
  assert.ok(a.calls <= rounds, `${a.calls} calls over ${rounds} rounds: at most one per round`);
});

test('after the last round a message goes to the DLQ with the reason', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const h = setup(t, [a], { maxRounds: 2 });
  const message = requested({ ttlSeconds: 86_400 });
  let result = await dispatchPass(h, message);
  while (result.followUp) {
    const pass = passFromHeaders(result.followUp.record.headers, h.clock.now)!;
    h.clock.now = pass.dueAt;
    result = await h.dispatcher.dispatch(message, pass);
  }
  const failed = asFailed(result.outcome);
  assert.equal(failed.errorClass, 'retries_exhausted');
  assert.ok(result.dlq);
  assert.match(result.dlq.headers?.reason ?? '', /no provider took it in 2 rounds/);
  assert.equal(JSON.parse(result.dlq.value).messageId, message.messageId);
});

test('passes in which every breaker was open do not count: the wait stays short and the DLQ far', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const h = setup(t, [a], { maxRounds: 3 });
  // Five failures open the breaker (volume threshold 5, reset after 60 s).
  for (let i = 0; i < 5; i++) await dispatchPass(h, requested());
  const callsWhenOpened = a.calls;

  const message = requested({ ttlSeconds: 86_400 });
  let result = await dispatchPass(h, message);
  const waits: number[] = [];
  for (let i = 0; i < 10; i++) {
    const pass = passFromHeaders(result.followUp!.record.headers, h.clock.now)!;
    assert.equal(pass.round, i + 1, 'every pass is a round of its own (its own markers)');
    assert.equal(pass.refusedRounds, 0, 'but none of them reached a provider');
    waits.push(pass.dueAt - h.clock.now);
    h.clock.now = pass.dueAt;
    result = await h.dispatcher.dispatch(message, pass);
    assert.equal(result.outcome, undefined, 'still waiting: not dead-lettered after 3 empty rounds');
  }
  assert.deepEqual(waits.slice(0, 3), [800, 4_000, 12_000], 'the usual first steps (random() = 0: -20 %)');
  assert.ok(
    waits.slice(3).every((w) => w === 12_000),
    `then no longer than the third step: ${waits.join(', ')}`,
  );
  assert.equal(a.calls, callsWhenOpened, 'the open breaker kept every call away');
});

test('a pass that reaches a provider again goes on from the wait its refusals earned', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const h = setup(t, [a], { breaker: { volumeThreshold: 1_000_000 } });
  const message = requested({ ttlSeconds: 86_400 });
  let result = await dispatchPass(h, message);
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    const pass = passFromHeaders(result.followUp!.record.headers, h.clock.now)!;
    assert.equal(pass.refusedRounds, i + 1);
    waits.push(pass.dueAt - h.clock.now);
    h.clock.now = pass.dueAt;
    result = await h.dispatcher.dispatch(message, pass);
  }
  assert.deepEqual(waits, [800, 4_000, 12_000, 48_000]);
  assert.equal(a.calls, 5);
});

test('retries to a provider are capped by its retry budget', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const h = setup(t, [a], {
    breaker: { volumeThreshold: 1_000_000 },
    retryBudget: new RetryBudget({ floor: 10, now: () => T0 }),
  });
  // No first attempts in the window: only the floor of 10 retries may go out.
  let called = 0;
  for (let i = 0; i < 30; i++) {
    const before = a.calls;
    await dispatchPass(h, requested(), { kind: 'retry', round: 1 });
    called += a.calls - before;
  }
  assert.equal(called, 10);
});

test('the retry budget slides: first attempts add to it and retries free up as their minute passes', () => {
  const clock = { now: 1_000_000 };
  const budget = new RetryBudget({ floor: 2, ratio: 0.5, windowMs: 60_000, now: () => clock.now });
  assert.equal(budget.tryRetry('a'), true);
  assert.equal(budget.tryRetry('a'), true);
  assert.equal(budget.tryRetry('a'), false, 'the floor of 2 is spent');
  assert.equal(budget.tryRetry('b'), true, 'each provider has its own');
  for (let i = 0; i < 4; i++) budget.recordFirstAttempt('a');
  assert.equal(budget.tryRetry('a'), true, '4 first attempts × 0.5 add 2');
  assert.equal(budget.tryRetry('a'), true);
  assert.equal(budget.tryRetry('a'), false);
  clock.now += 30_000;
  assert.equal(budget.tryRetry('a'), false, 'half a minute on, all still in the window');
  clock.now += 31_000;
  assert.equal(budget.tryRetry('a'), true, 'a minute on, the old retries and first attempts are out');
  assert.equal(budget.tryRetry('a'), true);
  assert.equal(budget.tryRetry('a'), false, 'back to the floor alone');
});

test('a sliding count covers its window to within one slot, across any number of laps', () => {
  const count = new SlidingCount(60_000);
  count.add(0);
  count.add(500);
  count.add(59_999);
  assert.equal(count.total(59_999), 3);
  assert.equal(count.total(60_000), 1, 'the first second’s slot left the window');
  count.add(3_600_000);
  assert.equal(count.total(3_600_000), 1, 'an hour later only the new event counts');
  assert.equal(count.total(3_600_000 + 60_000), 0);
});
