/** Opt-out enforcement: a suppressed recipient's message ends `skipped` before any provider call. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_SENDERS } from '../../../core/opt-out.ts';
import { suppressionKey } from '../../../core/suppression-cache.ts';
import {
  asFailed,
  asSubmitted,
  dispatch,
  dispatchPass,
  FakeProvider,
  requested,
  setup,
} from '../../../test/support/dispatch-harness.ts';

const TO = '+14155550123';
const SENDER = '+15005550006';

test('marketing to a number that said STOP to its sender ends skipped: opted_out, no provider called', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  await h.cache.set(suppressionKey('tenant-1', TO), JSON.stringify([SENDER]));

  const failed = asFailed(await dispatch(h, requested({ to: TO, from: SENDER, class: 'marketing' })));

  assert.equal(failed.status, 'skipped');
  assert.equal(failed.errorClass, 'opted_out');
  assert.equal(failed.provider, undefined);
  assert.equal(a.calls, 0);
  const counted = (await h.registry.getSingleMetric('pigeon_bridge_skipped_total')!.get()).values;
  assert.deepEqual(
    counted.map((v) => [v.labels.reason, v.labels.class, v.value]),
    [['opted_out', 'marketing', 1]],
  );
});

test('an OTP and a transactional message to the same number still go out', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  await h.cache.set(suppressionKey('tenant-1', TO), JSON.stringify([SENDER]));

  asSubmitted(await dispatch(h, requested({ to: TO, from: SENDER, class: 'otp' })));
  asSubmitted(await dispatch(h, requested({ to: TO, from: SENDER, class: 'transactional' })));
  assert.equal(a.calls, 2);
});

test('a STOPALL skips transactional too, and a retry round queued before it is skipped as well', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  await h.cache.set(suppressionKey('tenant-1', TO), JSON.stringify([ALL_SENDERS]));
  const message = requested({ to: TO, class: 'transactional' });

  const result = await dispatchPass(h, message, { kind: 'retry', round: 2, attemptsSoFar: 1 });

  const failed = asFailed(result.outcome);
  assert.equal(failed.status, 'skipped');
  assert.equal(failed.attempt, 1, 'reported against the attempts already made');
  assert.equal(a.calls, 0);
});

test('a number suppressed by another tenant, or for another sender, is sent to', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  await h.cache.set(suppressionKey('tenant-2', TO), JSON.stringify([ALL_SENDERS]));
  await h.cache.set(suppressionKey('tenant-1', TO), JSON.stringify(['ACME']));

  asSubmitted(await dispatch(h, requested({ to: TO, from: SENDER, class: 'marketing' })));
  assert.equal(a.calls, 1);
});
