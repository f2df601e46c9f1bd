import assert from 'node:assert/strict';
import { test } from 'node:test';
import { behaviourAt, DEFAULT_HANG_MS, parseBehaviour, planSend } from './behaviour.ts';

test('a normal provider takes the message and answers after its latency', () => {
  assert.deepEqual(planSend(undefined, 0, 20), { take: true, answerAfterMs: 20 });
});

test('down and throttle refuse without taking; throttle says when to come back', () => {
  assert.deepEqual(planSend({ mode: 'down' }, 0, 20), { take: false, answerAfterMs: 0, status: 503 });
  assert.deepEqual(planSend({ mode: 'throttle', retryAfterMs: 1_500 }, 0, 20), {
    take: false,
    answerAfterMs: 20,
    status: 429,
    retryAfterSeconds: 2,
  });
});

test('slow and ambiguous take the message; ambiguous holds the answer past any send timeout', () => {
  assert.deepEqual(planSend({ mode: 'slow', slowMs: 500 }, 0, 20), { take: true, answerAfterMs: 520 });
  assert.deepEqual(planSend({ mode: 'ambiguous' }, 0, 20), { take: true, answerAfterMs: DEFAULT_HANG_MS });
});

test('a timed behaviour ends by itself', () => {
  const set = { mode: 'down' as const, until: 1_000 };
  assert.equal(behaviourAt(set, 999).mode, 'down');
  assert.equal(behaviourAt(set, 1_000).mode, 'normal');
});

test('a behaviour body is validated: mode known, numbers bounded, no stray fields', () => {
  assert.deepEqual(parseBehaviour({ mode: 'slow', slowMs: 300, forMs: 50 }, 100), {
    mode: 'slow',
    slowMs: 300,
    until: 150,
  });
  const refusal = (body: unknown): string => {
    const parsed = parseBehaviour(body, 0);
    assert.equal(typeof parsed, 'string');
    return parsed as string;
  };
  assert.match(refusal({ mode: 'sleepy' }), /mode must be one of/);
  assert.match(refusal({ mode: 'slow', slowMs: -1 }), /slowMs must be/);
  assert.match(refusal({ mode: 'down', extra: 1 }), /unknown field "extra"/);
  assert.match(refusal([]), /must be an object/);
});
