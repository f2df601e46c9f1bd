/** A pass runs once across replays and crashes: stored results, claims, leases and recovery. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ABORT_UNLESS_CLAIMED, abortUnlessClaimedCall } from '../../../core/abort-marker.ts';
import type { Cache, CacheScript, ScriptReply } from '../../../core/cache/cache.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { PigeonError } from '../../../core/errors.ts';
import { Markers } from '../../../core/markers.ts';
import type { MessageRequested } from '../../../core/message.ts';
import {
  FakeProvider,
  rejectsPermanently,
  requested,
  type Harness,
  setup,
  dispatchPass,
  dispatch,
  asSubmitted,
  asFailed,
} from '../../../test/support/dispatch-harness.ts';
import { CacheProviderGate, type ProviderGate } from '../provider-gate.ts';

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

test('an OTP in flight at a crash with no other provider gets its one more copy from the same provider', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const message = requested({ class: 'otp', body: 'Your code is 123456' });
  await crashedMidSend(h, message, 'a');

  const submitted = asSubmitted(await dispatch(h, message));
  const replay = asSubmitted(await dispatch(h, message));

  assert.equal(submitted.provider, 'a');
  assert.equal(submitted.failover, 'crash_recovery');
  assert.equal(a.calls, 1);
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

test('a pass that failed before calling anyone (the cache timed out) is sent on its replay, here or in another bridge', async (t) => {
  const a = new FakeProvider('a');
  const base = new CacheProviderGate(new MemoryCache({ sweepIntervalMs: 0 }));
  let failures = 4;
  // The token's script times out: beside the claim, and again when the walk asks itself.
  const flaky: ProviderGate = {
    acquire: (...args) =>
      failures-- > 0
        ? Promise.reject(new PigeonError('PIGEON_ERR_CACHE_UNAVAILABLE', 'Cache script timed out'))
        : base.acquire(...args),
    pause: (...args) => base.pause(...args),
    refund: (...args) => base.refund(...args),
  };
  const h = setup(t, [a], { gate: flaky });
  const [here, elsewhere] = [requested({ class: 'marketing' }), requested({ class: 'marketing' })];

  await assert.rejects(dispatchPass(h, here), /timed out/);
  await assert.rejects(dispatchPass(h, elsewhere), /timed out/);
  assert.equal(a.calls, 0);
  // This process knows it called nobody: the replay runs the pass at once.
  asSubmitted((await dispatchPass(h, here)).outcome);
  // Another bridge only sees a claim without a provider: after its lease, it runs the pass.
  const other = setup(t, [a], { gate: flaky, cache: h.cache, now: () => h.clock.now });
  const waiting = await dispatchPass(other, elsewhere);
  assert.ok(waiting.notBefore !== undefined);
  h.clock.now = waiting.notBefore;
  asSubmitted((await dispatchPass(other, elsewhere)).outcome);
  assert.equal(a.calls, 2);
});

test('a claim whose answer was lost (Redis ran it, the reply timed out) is still sent by its replay', async (t) => {
  const a = new FakeProvider('a');
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  let lose = 1;
  const lossy: Cache = new Proxy(cache, {
    get(target, property) {
      if (property === 'runScript') {
        return async (...args: Parameters<Cache['runScript']>) => {
          const reply = await target.runScript(...args);
          if (args[0].name === 'pigeonOpenPass' && lose-- > 0) {
            throw new PigeonError('PIGEON_ERR_CACHE_UNAVAILABLE', 'Cache script timed out');
          }
          return reply;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const h = setup(t, [a], { cache: lossy });
  const message = requested({ class: 'marketing' });

  await assert.rejects(dispatchPass(h, message), /timed out/);
  const claim = JSON.parse((await cache.get(Markers.attempt(message.messageId, 'send:0'))) ?? '{}');
  assert.equal(claim.provider, 'a', 'the claim names the provider it was about to call');
  asSubmitted((await dispatchPass(h, message)).outcome);
  assert.equal(a.calls, 1);
});

test('the API abort and the first send claim exclude each other: whichever comes first wins', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a]);
  const abortIfUnclaimed = (messageId: string) => {
    const { keys, args } = abortUnlessClaimedCall(messageId);
    return h.cache.runScript(ABORT_UNLESS_CLAIMED, keys, args);
  };

  // The API gave up first: the bridge then refuses the message and calls nobody.
  const refused = requested();
  assert.equal(await abortIfUnclaimed(refused.messageId), 1);
  assert.equal(asFailed(await dispatch(h, refused)).errorCode, 'ABORTED');
  assert.equal(a.calls, 0);

  // The bridge claimed first: the API finds the claim and must not answer 503.
  const sent = requested();
  asSubmitted(await dispatch(h, sent));
  assert.equal(a.calls, 1);
  assert.equal(await abortIfUnclaimed(sent.messageId), 0);
  assert.equal(await h.cache.get(Markers.abort(sent.messageId)), undefined);
});

/** A cache that can be cut off for chosen writes and scripts, as a Redis outage cuts a bridge. */
class CutCache extends MemoryCache {
  cutSet: ((key: string) => boolean) | undefined;
  cutScript: ((name: string) => boolean) | undefined;
  override async set(...args: Parameters<MemoryCache['set']>): Promise<boolean> {
    if (this.cutSet?.(args[0])) throw new PigeonError('PIGEON_ERR_CACHE_UNAVAILABLE', 'cut off');
    return super.set(...args);
  }
  override async runScript<T extends ScriptReply>(...args: Parameters<MemoryCache['runScript']>): Promise<T> {
    if (this.cutScript?.(args[0].name)) throw new PigeonError('PIGEON_ERR_CACHE_UNAVAILABLE', 'cut off');
    return super.runScript(...(args as [CacheScript<T>, readonly string[], readonly (string | number)[]]));
  }
}

test('a pass that called a provider and could not store its result is never sent again by the same bridge, even after an open that failed', async (t) => {
  const a = new FakeProvider('a');
  const cache = new CutCache({ sweepIntervalMs: 0 });
  const h = setup(t, [a], { cache });
  const message = requested();

  // The provider takes the message, then the cache is cut before the result is stored.
  cache.cutSet = (key) => key === Markers.result(message.messageId, 'send:0');
  await assert.rejects(dispatch(h, message));
  assert.equal(a.calls, 1);
  // The replay's open fails too, its outcome unknown to the bridge.
  cache.cutSet = undefined;
  cache.cutScript = (name) => name === 'pigeonOpenPass';
  await assert.rejects(dispatch(h, message));
  // Once the cache is back, the replay finds a claim that named a provider: possibly sent, never resent.
  cache.cutScript = undefined;
  const outcome = asFailed(await dispatch(h, message));
  assert.equal(outcome.status, 'unknown');
  assert.equal(a.calls, 1);
});
