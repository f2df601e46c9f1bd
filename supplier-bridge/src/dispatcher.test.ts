import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Registry } from 'prom-client';
import { buildMessageRequested, type MessageInput } from '../../core/message-request.ts';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { newId } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import { Markers } from '../../core/markers.ts';
import type { MessageFailed, MessageRequested, MessageSubmitted, OutcomeEvent } from '../../core/message.ts';
import {
  type ParsedReceipt,
  type ProviderAdapter,
  ProviderError,
  type SendRequest,
  type SendResult,
} from '../../providers/provider.ts';
import {
  Dispatcher,
  type DispatcherOptions,
  type Pass,
  type PassResult,
  passFromHeaders,
} from './dispatcher.ts';
import { CacheProviderGate } from './provider-gate.ts';
import { RetryBudget } from './retry-policy.ts';
import { CatalogPlanner, fixedRouting } from '../../routing/planner.ts';

type Behaviour = (request: SendRequest, signal: AbortSignal) => Promise<SendResult>;

/** Stand-in for an SMS provider's API: answers as told and remembers what it was sent. */
class FakeProvider implements ProviderAdapter {
  readonly type = 'fake';
  readonly requests: SendRequest[] = [];
  readonly signals: AbortSignal[] = [];

  constructor(
    readonly name: string,
    private behaviour: Behaviour = accepts,
  ) {}

  get calls(): number {
    return this.requests.length;
  }

  answer(behaviour: Behaviour): void {
    this.behaviour = behaviour;
  }

  async send(request: SendRequest, signal: AbortSignal): Promise<SendResult> {
    this.requests.push(request);
    this.signals.push(signal);
    return this.behaviour(request, signal);
  }

  async parseReceipt(): Promise<ParsedReceipt[]> {
    return [];
  }
}

const accepts: Behaviour = async (request) => ({ providerMessageId: `pm-${request.messageId}` });
const unavailable: Behaviour = async () => {
  throw new ProviderError('retryable', '503', 'service unavailable');
};
const rejectsPermanently: Behaviour = async () => {
  throw new ProviderError('permanent', '21211', 'invalid destination');
};
const mayHaveSent: Behaviour = async () => {
  throw new ProviderError('retryable', 'SOCKET_HANG_UP', 'connection reset after the request was written', {
    sent: 'maybe',
  });
};
/** A provider that never answers, with an adapter that does not listen to its signal either. */
const neverAnswers: Behaviour = () => new Promise<never>(() => {});
/** Like fetch: no answer ever comes, but the request is cancelled when the signal aborts. */
const hangsUntilAborted: Behaviour = (_request, signal) =>
  new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });

const T0 = Date.parse('2030-06-01T12:00:00.000Z');
const PUBLISH_TIMEOUT_MS = 2_000;

function requested(input: Partial<MessageInput> = {}, now = T0): MessageRequested {
  return buildMessageRequested(
    { to: '+14155550123', body: 'Your parcel is on its way', ...input },
    { tenantId: 'tenant-1', messageId: newId(now), now, publishTimeoutMs: PUBLISH_TIMEOUT_MS },
  );
}

interface Harness {
  dispatcher: Dispatcher;
  cache: MemoryCache;
  registry: Registry;
  clock: { now: number };
  gate: CacheProviderGate;
}

function setup(t: TestContext, providers: FakeProvider[], options: Partial<DispatcherOptions> = {}): Harness {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const registry = new Registry();
  const clock = { now: T0 + 100 };
  const gate = new CacheProviderGate(cache, () => clock.now);
  const dispatcher = new Dispatcher({
    planner: new CatalogPlanner(
      fixedRouting(
        providers.map((adapter) => ({
          adapter,
          weight: 1,
          definition: { name: adapter.name, type: 'fake' },
        })),
      ),
      undefined,
      () => 0,
    ),
    gate,
    cache,
    logger: createLogger({ level: 'silent' }),
    registry,
    publicUrl: 'http://127.0.0.1:3000',
    random: () => 0,
    now: () => clock.now,
    breaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
    ...options,
  });
  t.after(async () => {
    await dispatcher.close();
    await cache.close();
  });
  return { dispatcher, cache, registry, clock, gate };
}

function firstPass(appendedAt: number, overrides: Partial<Pass> = {}): Pass {
  return { kind: 'send', round: 0, appendedAt, exclude: [], attemptsSoFar: 0, ...overrides };
}

/** Dispatches the first pass as if the record had been appended just after the API published it. */
async function dispatchPass(
  h: Harness,
  message: MessageRequested,
  overrides: Partial<Pass> = {},
): Promise<PassResult> {
  return h.dispatcher.dispatch(message, firstPass(Date.parse(message.occurredAt) + 10, overrides));
}

async function dispatch(h: Harness, message: MessageRequested): Promise<OutcomeEvent | undefined> {
  return (await dispatchPass(h, message)).outcome;
}

function asSubmitted(outcome: OutcomeEvent | undefined): MessageSubmitted {
  assert.equal(outcome?.type, 'message.submitted', `expected submitted, got ${JSON.stringify(outcome)}`);
  return outcome;
}

function asFailed(outcome: OutcomeEvent | undefined): MessageFailed {
  assert.equal(outcome?.type, 'message.failed', `expected failed, got ${JSON.stringify(outcome)}`);
  return outcome;
}

async function breakerState(registry: Registry, provider: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric('pigeon_bridge_breaker_state');
  assert.ok(metric, 'breaker state gauge is registered');
  const { values } = await metric.get();
  return values.find((v) => v.labels.breaker === `${provider}:*`)?.value;
}

test('a message accepted by the first provider is submitted through it on attempt 1', async (t) => {
  const a = new FakeProvider('a');
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);
  const message = requested();

  const submitted = asSubmitted(await dispatch(h, message));

  assert.equal(submitted.provider, 'a');
  assert.equal(submitted.providerMessageId, `pm-${message.messageId}`);
  assert.equal(submitted.attempt, 1);
  assert.equal(submitted.messageId, message.messageId);
  assert.equal(submitted.tenantId, 'tenant-1');
  assert.equal(submitted.segments, message.segments);
  assert.equal(submitted.country, 'US');
  assert.equal(b.calls, 0);
  assert.equal(a.requests[0]?.to, '+14155550123');
  assert.equal(a.requests[0]?.callbackUrl, 'http://127.0.0.1:3000/v1/receipts/a');
});

test('an accepted send records which message the provider message id belongs to', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested();

  await dispatch(h, message);

  const marker = await h.cache.get(Markers.providerMessage('a', `pm-${message.messageId}`));
  assert.ok(marker, 'providerMessage marker is set');
  assert.deepEqual(JSON.parse(marker), { messageId: message.messageId, tenantId: 'tenant-1' });
});

test('a retryable definite non-send fails over to the next provider', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);

  const submitted = asSubmitted(await dispatch(h, requested()));

  assert.equal(submitted.provider, 'b');
  assert.equal(submitted.attempt, 2);
  assert.equal(a.calls, 1);
  assert.equal(b.calls, 1);
});

test('the refused call before a failover is reported as attempt 1, published before the outcome', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);
  const message = requested({ class: 'transactional' });

  const result = await dispatchPass(h, message);

  assert.equal(asSubmitted(result.outcome).attempt, 2);
  assert.equal(result.attempts?.length, 1);
  const refused = result.attempts[0]!;
  assert.equal(refused.type, 'attempt.failed');
  assert.equal(refused.messageId, message.messageId);
  assert.equal(refused.provider, 'a');
  assert.equal(refused.attempt, 1);
  assert.equal(refused.errorClass, 'retryable');
  assert.equal(refused.errorCode, '503');
  assert.equal(refused.sent, 'no');
  assert.equal(refused.class, 'transactional');
  assert.ok(Date.parse(refused.requestedAt) <= h.clock.now);
});

test('when every provider refuses, each call is reported and the retry is scheduled', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const b = new FakeProvider('b', unavailable);
  const h = setup(t, [a, b]);

  const result = await dispatchPass(h, requested());

  assert.equal(result.outcome, undefined);
  assert.ok(result.followUp);
  const reported = result.attempts?.map((e) => `${e.provider}:${e.attempt}`).sort();
  assert.ok(
    JSON.stringify(reported) === '["a:1","b:2"]' || JSON.stringify(reported) === '["a:2","b:1"]',
    `one report per call, numbered in call order: ${JSON.stringify(reported)}`,
  );
});

test('a pass that reports its only call in the outcome adds no attempt events', async (t) => {
  const h = setup(t, [new FakeProvider('a', rejectsPermanently), new FakeProvider('b')]);
  const result = await dispatchPass(h, requested());
  assert.equal(asFailed(result.outcome).attempt, 1);
  assert.equal(result.attempts, undefined);
});

test('a permanent rejection fails the message without trying another provider', async (t) => {
  const a = new FakeProvider('a', rejectsPermanently);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);

  const failed = asFailed(await dispatch(h, requested()));

  assert.equal(failed.status, 'failed');
  assert.equal(failed.errorClass, 'permanent');
  assert.equal(failed.errorCode, '21211');
  assert.equal(failed.provider, 'a');
  assert.equal(failed.attempt, 1);
  assert.equal(b.calls, 0);
});

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

for (const messageClass of ['marketing', 'transactional'] as const) {
  test(`an ambiguous failure of a ${messageClass} message is never sent to another provider`, async (t) => {
    const a = new FakeProvider('a', mayHaveSent);
    const b = new FakeProvider('b');
    const h = setup(t, [a, b]);

    const failed = asFailed(await dispatch(h, requested({ class: messageClass })));

    assert.equal(failed.status, 'unknown');
    assert.equal(failed.errorClass, 'ambiguous');
    assert.equal(failed.errorCode, 'SOCKET_HANG_UP');
    assert.equal(failed.provider, 'a');
    assert.equal(b.calls, 0);
  });
}

test('an ambiguous failure of an otp message fails over once', async (t) => {
  const a = new FakeProvider('a', mayHaveSent);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);

  const submitted = asSubmitted(await dispatch(h, requested({ class: 'otp', body: 'Your code is 123456' })));

  assert.equal(submitted.provider, 'b');
  assert.equal(submitted.attempt, 2);
  assert.equal(b.calls, 1);
});

test('an otp message fails over after an ambiguous failure only once', async (t) => {
  const a = new FakeProvider('a', mayHaveSent);
  const b = new FakeProvider('b', mayHaveSent);
  const c = new FakeProvider('c');
  const h = setup(t, [a, b, c]);

  const result = await dispatchPass(h, requested({ class: 'otp', body: 'Your code is 123456' }));
  const failed = asFailed(result.outcome);

  assert.equal(failed.errorClass, 'ambiguous');
  assert.equal(failed.provider, 'b');
  assert.equal(failed.attempt, 2);
  assert.equal(c.calls, 0);
  assert.deepEqual(
    result.attempts?.map((e) => [e.provider, e.attempt, e.sent]),
    [['a', 1, 'maybe']],
    'the first call, which may have sent too, has its own report',
  );
});

test('a provider that never answers is cancelled at the send timeout and treated as ambiguous', async (t) => {
  const a = new FakeProvider('a', hangsUntilAborted);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b], { breaker: { timeoutMs: 100 } });

  const started = performance.now();
  const failed = asFailed(await dispatch(h, requested({ class: 'marketing' })));
  const elapsed = performance.now() - started;

  assert.equal(a.signals[0]?.aborted, true, 'the signal handed to the provider is aborted');
  assert.equal(failed.errorClass, 'ambiguous');
  assert.equal(failed.errorCode, 'TIMEOUT');
  assert.equal(b.calls, 0);
  assert.ok(elapsed >= 90 && elapsed < 5_000, `gave up after ${elapsed} ms`);
});

test('a send times out even when the adapter ignores its abort signal', async (t) => {
  const a = new FakeProvider('a', neverAnswers);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b], { breaker: { timeoutMs: 100 } });

  const failed = asFailed(await dispatch(h, requested({ class: 'transactional' })));

  assert.equal(a.signals[0]?.aborted, true);
  assert.equal(failed.errorClass, 'ambiguous');
  assert.equal(failed.errorCode, 'TIMEOUT');
  assert.equal(b.calls, 0);
});

test('an otp message whose provider times out is sent through the next provider', async (t) => {
  const a = new FakeProvider('a', hangsUntilAborted);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b], { breaker: { timeoutMs: 100 } });

  const submitted = asSubmitted(await dispatch(h, requested({ class: 'otp', body: 'Your code is 123456' })));

  assert.equal(a.signals[0]?.aborted, true);
  assert.equal(submitted.provider, 'b');
  assert.equal(submitted.attempt, 2);
});

test('an expired message is failed as expired without calling a provider', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested({ ttlSeconds: 60 });
  h.clock.now = Date.parse(message.expiresAt) + 1;

  const failed = asFailed(await dispatch(h, message));

  assert.equal(failed.status, 'expired');
  assert.equal(failed.attempt, 0);
  assert.equal(a.calls, 0);

  // A replay of the batch republishes the same event, so the history gains no second row.
  const replayed = asFailed(await dispatch(h, message));
  assert.equal(replayed.id, failed.id);
});

test('a record appended after the accept deadline is rejected without calling a provider', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested();

  const clearlyLate = Date.parse(message.acceptDeadline) + 60_000;
  const failed = asFailed((await h.dispatcher.dispatch(message, firstPass(clearlyLate))).outcome);

  assert.equal(failed.status, 'rejected');
  assert.equal(failed.errorCode, 'ACCEPT_DEADLINE');
  assert.equal(a.calls, 0);
});

test('a record appended by its accept deadline is sent', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested();

  asSubmitted((await h.dispatcher.dispatch(message, firstPass(Date.parse(message.acceptDeadline)))).outcome);
  assert.equal(a.calls, 1);
});

test('a message the API aborted is rejected without calling a provider', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested();
  await h.cache.set(Markers.abort(message.messageId), '1');

  const failed = asFailed(await dispatch(h, message));

  assert.equal(failed.status, 'rejected');
  assert.equal(failed.errorCode, 'ABORTED');
  assert.equal(a.calls, 0);
});

test('a replayed message is sent once and yields the same outcome event', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested();

  const first = await dispatch(h, message);
  const replay = await dispatch(h, message);

  assert.equal(a.calls, 1);
  assert.ok(first && replay);
  assert.equal(replay.id, first.id);
  assert.deepEqual(replay, first);
});

test('a replayed failure yields the same failure without another send', async (t) => {
  const a = new FakeProvider('a', rejectsPermanently);
  const h = setup(t, [a]);
  const message = requested();

  const first = asFailed(await dispatch(h, message));
  const replay = asFailed(await dispatch(h, message));

  assert.equal(a.calls, 1);
  assert.deepEqual(replay, first);
});

test('an ambiguous failure ends the message unknown, not failed, so a late receipt can still deliver it', async (t) => {
  const a = new FakeProvider('a', mayHaveSent);
  const h = setup(t, [a]);

  const failed = asFailed(await dispatch(h, requested({ class: 'marketing' })));

  assert.equal(failed.status, 'unknown');
  assert.equal(failed.errorClass, 'ambiguous');
});

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

test('a 429 with Retry-After pauses the provider: no call reaches it before the time passes', async (t) => {
  const a = new FakeProvider('a', async () => {
    throw new ProviderError('throttled', '429', 'slow down', { retryAfterMs: 30_000 });
  });
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);

  asSubmitted(await dispatch(h, requested()));
  assert.equal(a.calls, 1);
  a.answer(accepts);
  for (let i = 0; i < 5; i++) assert.equal(asSubmitted(await dispatch(h, requested())).provider, 'b');
  assert.equal(a.calls, 1, 'paused provider not called');

  h.clock.now += 30_001;
  assert.equal(asSubmitted(await dispatch(h, requested())).provider, 'a');
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

test('an OTP whose delivered receipt is overdue goes once more through another provider, billed once', async (t) => {
  const a = new FakeProvider('a');
  const b = new FakeProvider('b');
  const h = setup(t, [a, b], { receiptTimeoutMs: { otp: 20_000, alert: 20_000 } });
  const message = requested({ class: 'otp', body: 'Your code is 123456' });

  const first = await dispatchPass(h, message);
  assert.equal(asSubmitted(first.outcome).provider, 'a');
  const check = passFromHeaders(first.followUp?.record.headers, h.clock.now);
  assert.equal(check?.kind, 'receipt-check');
  assert.deepEqual(check?.exclude, ['a']);

  h.clock.now = check.dueAt;
  const second = asSubmitted((await h.dispatcher.dispatch(message, check)).outcome);
  assert.equal(second.provider, 'b');
  assert.equal(second.attempt, 2);
  assert.equal(second.failover, 'receipt_timeout');
  assert.equal(second.cost, 0);
  assert.equal(a.calls + b.calls, 2);
});

test('a receipt check finds the message delivered and sends nothing', async (t) => {
  const a = new FakeProvider('a');
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);
  const message = requested({ class: 'alert', body: 'disk full on db-1' });
  const first = await dispatchPass(h, message);
  await h.cache.set(Markers.delivered(message.messageId), '1');
  const check = passFromHeaders(first.followUp?.record.headers, h.clock.now)!;

  const result = await h.dispatcher.dispatch(message, check);

  assert.deepEqual(result, {});
  assert.equal(b.calls, 0);
});

test('bulk traffic gets no receipt check', async (t) => {
  const h = setup(t, [new FakeProvider('a')]);
  const result = await dispatchPass(h, requested({ class: 'marketing' }));
  assert.equal(result.followUp, undefined);
});

test('every part id of a multi-part send leads back to the message', async (t) => {
  const a = new FakeProvider('a', async () => ({ providerMessageId: 'p1', partIds: ['p1', 'p2', 'p3'] }));
  const h = setup(t, [a]);
  const message = requested({ body: 'x'.repeat(400) });
  await dispatch(h, message);
  for (const part of ['p1', 'p2', 'p3']) {
    const owner = JSON.parse((await h.cache.get(Markers.providerMessage('a', part)))!) as {
      messageId: string;
      partIds: string[];
    };
    assert.equal(owner.messageId, message.messageId);
    assert.deepEqual(owner.partIds, ['p1', 'p2', 'p3']);
  }
});

const crashedMidSend = async (h: Harness, message: MessageRequested, provider?: string, at = h.clock.now) =>
  h.cache.set(Markers.attempt(message.messageId, 'send:0'), JSON.stringify({ at, provider }));

test('a bulk message whose send was in flight when a bridge crashed is never sent again: it ends unknown', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested({ class: 'marketing' });
  await crashedMidSend(h, message, 'a');

  const failed = asFailed(await dispatch(h, message));

  assert.equal(failed.status, 'unknown');
  assert.equal(failed.errorCode, 'CRASH_IN_FLIGHT');
  assert.equal(a.calls, 0);
  assert.deepEqual(await dispatch(h, message), failed, 'a replay republishes the same event');
});

test('an OTP in flight at a crash gets exactly one more copy, through another provider', async (t) => {
  const a = new FakeProvider('a');
  const b = new FakeProvider('b');
  const h = setup(t, [a, b]);
  const message = requested({ class: 'otp', body: 'Your code is 123456' });
  await crashedMidSend(h, message, 'a');

  const submitted = asSubmitted(await dispatch(h, message));
  const replay = asSubmitted(await dispatch(h, message));

  assert.equal(submitted.provider, 'b');
  assert.equal(submitted.failover, 'crash_recovery');
  assert.equal(a.calls, 0);
  assert.equal(b.calls, 1);
  assert.deepEqual(replay, submitted);
});

test('a pass claimed but not yet at a provider is taken over only after its lease', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a], { breaker: { timeoutMs: 1_000 } });
  const message = requested();
  await crashedMidSend(h, message, undefined);

  const early = await dispatchPass(h, message);
  assert.ok(
    early.notBefore && early.notBefore > h.clock.now,
    'waits: the first claimer may still be working',
  );
  assert.equal(a.calls, 0);

  h.clock.now = early.notBefore!;
  asSubmitted(await dispatch(h, message));
  assert.equal(a.calls, 1);
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

test('a message naming its provider (a canary) goes through that provider alone, with no failover', async (t) => {
  const a = new FakeProvider('a');
  const b = new FakeProvider('b', unavailable);
  const h = setup(t, [a, b]);
  const probe = { ...requested(), provider: 'b' };
  const result = await dispatchPass(h, probe);
  assert.equal(a.calls, 0, 'never failed over to a');
  assert.equal(b.calls, 1);
  assert.equal(result.outcome, undefined);
  assert.ok(result.followUp, 'retried later through b, until it expires');
  b.answer(accepts);
  const submitted = await dispatch(h, { ...requested(), provider: 'b' });
  assert.equal(submitted?.type, 'message.submitted');
  assert.equal(submitted.provider, 'b');
  assert.equal(submitted.class, 'transactional', 'outcomes carry the class for the monitor');
  const unknown = await dispatchPass(h, { ...requested(), provider: 'nope' });
  assert.equal(a.calls + b.calls, 2, 'a provider that does not exist gets nothing, and nobody else does');
  assert.ok(unknown.followUp);
});

test('a recovery cut off by a second crash is not retried for ever: once its lease passes the message ends unknown', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a], { breaker: { timeoutMs: 1_000 } });
  const message = requested({ class: 'otp', body: 'Your code is 123456' });
  await crashedMidSend(h, message, 'a');
  await h.cache.set(Markers.recovery(message.messageId, 'send:0'), String(h.clock.now));

  const waiting = await dispatchPass(h, message);
  assert.ok(waiting.notBefore && waiting.notBefore > h.clock.now, 'a live recoverer gets its lease');

  h.clock.now = waiting.notBefore!;
  const failed = asFailed(await dispatch(h, message));
  assert.equal(failed.status, 'unknown');
  assert.equal(failed.errorCode, 'CRASH_IN_RECOVERY');
  assert.equal(a.calls, 0, 'no further copy');
});
