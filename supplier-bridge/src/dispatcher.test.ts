import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Registry } from 'prom-client';
import { buildMessageRequested, type MessageInput } from '../../api/src/accept.ts';
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
} from '../providers/provider.ts';
import { Dispatcher, type DispatcherOptions } from './dispatcher.ts';

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

  parseReceipt(): ParsedReceipt[] {
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
}

function setup(t: TestContext, providers: FakeProvider[], options: Partial<DispatcherOptions> = {}): Harness {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const registry = new Registry();
  const clock = { now: T0 + 100 };
  const dispatcher = new Dispatcher({
    providers: providers.map((adapter) => ({ adapter, weight: 1 })),
    cache,
    logger: createLogger({ level: 'silent' }),
    registry,
    publicUrl: 'http://127.0.0.1:3000',
    random: () => 0,
    now: () => clock.now,
    breaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeout: 60_000 },
    ...options,
  });
  t.after(async () => {
    await dispatcher.close();
    await cache.close();
  });
  return { dispatcher, cache, registry, clock };
}

/** Dispatches as if the record had been appended just after the API published it. */
function dispatch(h: Harness, message: MessageRequested): Promise<OutcomeEvent | undefined> {
  return h.dispatcher.dispatch(message, Date.parse(message.occurredAt) + 10);
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
  return values.find((v) => v.labels.provider === provider)?.value;
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
  assert.equal(await breakerState(h.registry, 'a'), 0);

  for (let i = 0; i < 5; i++) assert.equal(asSubmitted(await dispatch(h, requested())).provider, 'b');
  assert.equal(await breakerState(h.registry, 'a'), 2);
  assert.equal(await breakerState(h.registry, 'b'), 0);

  const callsWhenOpened = a.calls;
  for (let i = 0; i < 3; i++) {
    const submitted = asSubmitted(await dispatch(h, requested()));
    assert.equal(submitted.provider, 'b');
    assert.equal(submitted.attempt, 2);
  }
  assert.equal(a.calls, callsWhenOpened, 'an open breaker does not call its provider');
});

for (const messageClass of ['marketing', 'transactional'] as const) {
  test(`an ambiguous failure of a ${messageClass} message is never sent to another provider`, async (t) => {
    const a = new FakeProvider('a', mayHaveSent);
    const b = new FakeProvider('b');
    const h = setup(t, [a, b]);

    const failed = asFailed(await dispatch(h, requested({ class: messageClass })));

    assert.equal(failed.status, 'failed');
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

  const failed = asFailed(await dispatch(h, requested({ class: 'otp', body: 'Your code is 123456' })));

  assert.equal(failed.errorClass, 'ambiguous');
  assert.equal(failed.provider, 'b');
  assert.equal(failed.attempt, 2);
  assert.equal(c.calls, 0);
});

test('a provider that never answers is cancelled at the send timeout and treated as ambiguous', async (t) => {
  const a = new FakeProvider('a', hangsUntilAborted);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b], { sendTimeoutMs: 100 });

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
  const h = setup(t, [a, b], { sendTimeoutMs: 100 });

  const failed = asFailed(await dispatch(h, requested({ class: 'transactional' })));

  assert.equal(a.signals[0]?.aborted, true);
  assert.equal(failed.errorClass, 'ambiguous');
  assert.equal(failed.errorCode, 'TIMEOUT');
  assert.equal(b.calls, 0);
});

test('an otp message whose provider times out is sent through the next provider', async (t) => {
  const a = new FakeProvider('a', hangsUntilAborted);
  const b = new FakeProvider('b');
  const h = setup(t, [a, b], { sendTimeoutMs: 100 });

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
  const failed = asFailed(await h.dispatcher.dispatch(message, clearlyLate));

  assert.equal(failed.status, 'rejected');
  assert.equal(failed.errorCode, 'ACCEPT_DEADLINE');
  assert.equal(a.calls, 0);
});

test('a record appended by its accept deadline is sent', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested();

  asSubmitted(await h.dispatcher.dispatch(message, Date.parse(message.acceptDeadline)));
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

test('an attempt claimed by a bridge that crashed mid-send is neither sent again nor reported', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested();
  await h.cache.set(Markers.attempt(message.messageId), String(T0));

  const outcome = await dispatch(h, message);

  assert.equal(outcome, undefined);
  assert.equal(a.calls, 0);
});

test('a message every provider fails is failed with all providers failed', async (t) => {
  const a = new FakeProvider('a', unavailable);
  const b = new FakeProvider('b', unavailable);
  const h = setup(t, [a, b]);

  const failed = asFailed(await dispatch(h, requested()));

  assert.equal(failed.status, 'failed');
  assert.equal(failed.reason, 'all providers failed');
  assert.equal(failed.errorClass, 'retryable');
  assert.equal(failed.errorCode, '503');
  assert.equal(failed.attempt, 2);
  assert.equal(a.calls, 1);
  assert.equal(b.calls, 1);
});
