/** A pass runs once across replays and crashes: stored results, claims, leases and recovery. */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { ABORT_UNLESS_CLAIMED, abortUnlessClaimedCall } from '../../../core/abort-marker.ts';
import type { Cache, CacheScript, ScriptReply } from '../../../core/cache/cache.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
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
  accepts,
  T0,
} from '../../../test/support/dispatch-harness.ts';
import { handoverMarker } from '../../../routing/receipt-matcher.ts';
import { type Admission, CacheProviderGate, type ProviderGate } from '../provider-gate.ts';
import { PassClaim, STORE_RESULT_SCRIPT } from './pass-claim.ts';

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

test('a pass claimed but not yet at a provider is taken over at once, without waiting for a lease', async (t) => {
  const a = new FakeProvider('a');
  const h = setup(t, [a], { breaker: { timeoutMs: 60_000 } });
  const message = requested();
  await crashedMidSend(h, message, undefined);

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
  // Another bridge only sees a claim without a provider: it takes the pass over and runs it.
  const other = setup(t, [a], { gate: flaky, cache: h.cache, now: () => h.clock.now });
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

/** A cache that can be cut off for chosen scripts, as a Redis outage cuts a bridge. */
class CutCache extends MemoryCache {
  cutScript: ((name: string) => boolean) | undefined;
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
  cache.cutScript = (name) => name === STORE_RESULT_SCRIPT.name;
  await assert.rejects(dispatch(h, message));
  assert.equal(a.calls, 1);
  // The replay's open fails too, its outcome unknown to the bridge.
  cache.cutScript = (name) => name === 'pigeonOpenPass';
  await assert.rejects(dispatch(h, message));
  // Once the cache is back, the replay finds a claim that named a provider: possibly sent, never resent.
  cache.cutScript = undefined;
  const outcome = asFailed(await dispatch(h, message));
  assert.equal(outcome.status, 'unknown');
  assert.equal(a.calls, 1);
});

const claimOf = (cache: Cache, messageId: string, now: number) =>
  new PassClaim(cache, messageId, 'send:0', { now: () => now, sendTimeoutMs: 60_000 });
const handover = (provider: string, messageId: string) =>
  handoverMarker(provider, { messageId, tenantId: 'tenant-1' });

test('a take-over before the first claimer stamps a provider fences it off: its stamp and its result are refused', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const id = newId(T0);
  const [first, second] = [claimOf(cache, id, T0), claimOf(cache, id, T0 + 1)];
  assert.deepEqual(await first.open({ checkAbort: false }), { claimed: true, aborted: false });

  // No provider named and no lease waited for: the claim is taken over at once.
  assert.deepEqual(await second.recover(), { kind: 'take-over', claim: { at: T0 } });
  assert.equal(await first.calling('a', handover('a', id)), false);
  assert.equal(first.superseded, true);
  assert.equal(await cache.get(handover('a', id).key), undefined, 'no handover for a call never made');
  assert.equal(await first.storeResult({}), false);

  assert.equal(
    await second.calling('b', handover('b', id)),
    true,
    'the recovering bridge passes its own fence',
  );
  assert.equal(await second.storeResult({ notBefore: 1 }), true);
  assert.equal(second.superseded, false);
  assert.deepEqual(await claimOf(cache, id, T0 + 2).open({ checkAbort: false }), {
    claimed: false,
    stored: { notBefore: 1 },
  });
  await cache.close();
});

test('a stamp before the take-over is seen by it: the recovering bridge learns which provider may have the message', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const id = newId(T0);
  const [first, second] = [claimOf(cache, id, T0), claimOf(cache, id, T0 + 1)];
  await first.open({ checkAbort: false });
  assert.equal(await first.calling('a', handover('a', id)), true);

  assert.deepEqual(await second.recover(), { kind: 'take-over', claim: { at: T0, provider: 'a' } });
  // The first claimer's call may be under way; whatever it learns, the recovery's result stands.
  assert.equal(await first.storeResult({}), false);
  assert.equal(await first.calling('b', handover('b', id)), false);
  await cache.close();
});

test('a recovery left by a crash is cut off once its lease passes, and then fenced off too', async () => {
  const cache = new MemoryCache({ sweepIntervalMs: 0 });
  const id = newId(T0);
  const lease = 2 * 60_000 + 5_000;
  await claimOf(cache, id, T0).open({ checkAbort: false });
  const recovering = claimOf(cache, id, T0 + 1);
  assert.equal((await recovering.recover()).kind, 'take-over');

  assert.deepEqual(await claimOf(cache, id, T0 + 2).recover(), { kind: 'wait', notBefore: T0 + 1 + lease });
  const late = claimOf(cache, id, T0 + 1 + lease);
  assert.equal((await late.recover()).kind, 'cut-off');
  assert.equal(await recovering.calling('a', handover('a', id)), false, 'a stalled recovery calls nobody');
  assert.equal(await recovering.storeResult({}), false);
  assert.equal(await late.storeResult({ notBefore: 2 }), true);
  await cache.close();
});

/**
 * A gate that keeps its caller waiting for a token until the test lets it go, as a busy rate limit
 * does: the first answer says "not now", the next comes when `go` is called.
 */
class HeldGate implements ProviderGate {
  private asked = 0;
  private reach!: () => void;
  private release!: () => void;
  /** Resolves once a caller waits for its token. */
  readonly reached = new Promise<void>((resolve) => (this.reach = resolve));
  private readonly released = new Promise<void>((resolve) => (this.release = resolve));
  private readonly base = new CacheProviderGate(new MemoryCache({ sweepIntervalMs: 0 }));

  async acquire(...args: Parameters<ProviderGate['acquire']>): Promise<Admission> {
    if (this.asked++ === 0) return { granted: false, retryInMs: 0 };
    this.reach();
    await this.released;
    return this.base.acquire(...args);
  }
  pause = (...args: Parameters<ProviderGate['pause']>) => this.base.pause(...args);
  refund = (...args: Parameters<ProviderGate['refund']>) => this.base.refund(...args);
  go(): void {
    this.release();
  }
}

/** Two bridges on one cache: `stalled` waits for a token (HeldGate), `other` replays its batch. */
function twoBridges(t: TestContext, providers: FakeProvider[]) {
  const gate = new HeldGate();
  const stalled = setup(t, providers, { gate });
  const other = setup(t, providers, { cache: stalled.cache, now: () => stalled.clock.now });
  return { gate, stalled, other };
}

test('a receipt check taken over while its bridge waits for a token is sent once, at once, by the bridge that took it over', async (t) => {
  const [a, b] = [new FakeProvider('a'), new FakeProvider('b')];
  const { gate, stalled, other } = twoBridges(t, [a, b]);
  const message = requested({ class: 'otp', body: 'Your code is 123456' });
  const check = { kind: 'receipt-check', round: 1, exclude: ['a'], attemptsSoFar: 1 } as const;

  const fenced = dispatchPass(stalled, message, check);
  await gate.reached;
  const taken = asSubmitted((await dispatchPass(other, message, check)).outcome);
  assert.equal(taken.provider, 'b');
  gate.go();

  assert.deepEqual(await fenced, {}, 'the bridge fenced off publishes nothing and lets its batch commit');
  assert.equal(b.calls, 1);
  assert.equal(a.calls, 0);
  assert.deepEqual(
    (await dispatchPass(stalled, message, check)).outcome,
    taken,
    'its replay republishes the take-over',
  );
});

test('an OTP whose bridge waits for its first provider’s token when the pass is taken over goes out once, through the recovery', async (t) => {
  const [a, b] = [new FakeProvider('a'), new FakeProvider('b')];
  const { gate, stalled, other } = twoBridges(t, [a, b]);
  const message = requested({ class: 'otp', body: 'Your code is 123456' });

  const fenced = dispatchPass(stalled, message);
  await gate.reached;
  // The claim names the first provider (stamped with it), so the recovery takes it for possibly sent.
  const taken = asSubmitted((await dispatchPass(other, message)).outcome);
  assert.equal(taken.provider, 'b');
  assert.equal(taken.failover, 'crash_recovery');
  gate.go();

  assert.deepEqual(await fenced, {});
  assert.equal(a.calls, 0, 'the bridge fenced off never calls the provider it had stamped');
  assert.equal(b.calls, 1);
});

test('a bridge whose call was under way at the take-over keeps the acceptance for receipts but publishes nothing: the recovery decides', async (t) => {
  const [a, b] = [new FakeProvider('a'), new FakeProvider('b')];
  const stalled = setup(t, [a, b]);
  const other = setup(t, [a, b], { cache: stalled.cache, now: () => stalled.clock.now });
  const message = requested({ class: 'marketing' });
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  a.answer(async (request) => {
    reach();
    await released;
    return accepts(request, new AbortController().signal);
  });

  const fenced = dispatchPass(stalled, message);
  await reached;
  const decided = asFailed((await dispatchPass(other, message)).outcome);
  assert.equal(decided.errorCode, 'CRASH_IN_FLIGHT', 'the recovery saw the provider it was stamped with');
  release();

  assert.deepEqual(await fenced, {});
  assert.equal(a.calls, 1);
  assert.equal(b.calls, 0);
  assert.ok(
    await stalled.cache.get(Markers.providerMessage('a', `pm-${message.messageId}`)),
    'a receipt from the provider still finds the message',
  );
  assert.deepEqual((await dispatchPass(stalled, message)).outcome, decided);
});
