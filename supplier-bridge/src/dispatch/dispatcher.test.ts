/** The walk over the planned providers: acceptance, failover, ambiguity, timeouts and deadlines. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Markers } from '../../../core/markers.ts';
import { ProviderError } from '../../../providers/provider.ts';
import {
  FakeProvider,
  accepts,
  unavailable,
  rejectsPermanently,
  mayHaveSent,
  neverAnswers,
  hangsUntilAborted,
  requested,
  setup,
  firstPass,
  dispatchPass,
  dispatch,
  asSubmitted,
  asFailed,
} from '../../../test/support/dispatch-harness.ts';
import { passFromHeaders } from './pass-headers.ts';

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

test('every provider handed the message is recorded before its call, so its receipts may name the message', async (t) => {
  const a = new FakeProvider('a', mayHaveSent);
  const b = new FakeProvider('b', async (request) => {
    // Already there when the provider could first post a receipt.
    const owner = await h.cache.get(Markers.providerReference('b', request.messageId));
    assert.deepEqual(JSON.parse(owner!), { messageId: request.messageId, tenantId: 'tenant-1' });
    return { providerMessageId: 'pm-b' };
  });
  const c = new FakeProvider('c');
  const h = setup(t, [a, b, c]);
  const message = requested({ class: 'otp' });

  assert.equal(asSubmitted(await dispatch(h, message)).provider, 'b');

  // a may have sent it (its answer was lost): its receipt by reference is still believed.
  const handedToA = await h.cache.get(Markers.providerReference('a', message.messageId));
  assert.deepEqual(JSON.parse(handedToA!), { messageId: message.messageId, tenantId: 'tenant-1' });
  assert.equal(
    await h.cache.get(Markers.providerReference('c', message.messageId)),
    undefined,
    'c never got it',
  );
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

test('an ambiguous failure ends the message unknown, not failed, so a late receipt can still deliver it', async (t) => {
  const a = new FakeProvider('a', mayHaveSent);
  const h = setup(t, [a]);

  const failed = asFailed(await dispatch(h, requested({ class: 'marketing' })));

  assert.equal(failed.status, 'unknown');
  assert.equal(failed.errorClass, 'ambiguous');
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
