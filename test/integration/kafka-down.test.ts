/**
 * KafkaBus with no broker behind it: health checks answer quickly, publishes never pretend to
 * succeed, and shutting down does not hang.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { isPigeonError } from '../../core/errors.ts';

// Port 1 (tcpmux) has no listener on any machine we run on, so connections are refused at once.
const NOWHERE = ['127.0.0.1:1'];

let bus: KafkaBus;

before(() => {
  bus = new KafkaBus({ brokers: NOWHERE, clientId: 'pigeon-kafka-down', closeTimeoutMs: 2000 });
});

after(async () => {
  await bus.close();
});

test('ping resolves false quickly', async () => {
  const started = performance.now();
  assert.equal(await bus.ping(), false);
  assert.ok(performance.now() - started < 2000, 'ping answered within 2 s');
});

test('a publish does not succeed while the broker is unreachable', async () => {
  const publish = bus.publish('sms.send.normal', [{ key: 'k', value: 'v' }]);
  const outcome = await Promise.race([
    publish.then(
      () => 'resolved' as const,
      (err: unknown) => err,
    ),
    new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 2000)),
  ]);
  assert.notEqual(outcome, 'resolved');
  if (outcome !== 'pending') {
    assert.ok(isPigeonError(outcome), 'rejects with a PigeonError');
    assert.equal(outcome.code, 'PIGEON_ERR_BUS_UNAVAILABLE');
  }
  // Whatever happens later, it must be a failure, never an acknowledgement.
  await assert.rejects(
    publish,
    (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_BUS_UNAVAILABLE',
  );
});

test('close does not hang', async () => {
  const pending = bus.publish('sms.send.normal', [{ key: 'k2', value: 'v2' }]);
  pending.catch(() => {});
  const started = performance.now();
  await bus.close();
  assert.ok(performance.now() - started < 6000, `close took ${(performance.now() - started).toFixed(0)} ms`);
  await assert.rejects(
    pending,
    (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_BUS_UNAVAILABLE',
  );
  assert.equal(await bus.ping(), false);
});
