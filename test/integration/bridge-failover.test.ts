/**
 * The supplier bridge against provider outages, on real Kafka and Redis, with Twilio adapters
 * talking to local Twilio fakes. Copies are counted at the fakes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MessageFailed, MessageSubmitted } from '../../core/message.ts';
import { type BridgeHarness, startBridgeHarness } from '../support/bridge-harness.ts';
import { sleep, waitFor } from '../support/wait.ts';

const BREAKER = { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeoutMs: 1_500, timeoutMs: 2_000 };

const numbers = (count: number, offset = 0) =>
  Array.from({ length: count }, (_, i) => `+1415555${String(1000 + offset + i)}`);

async function withHarness(
  options: Parameters<typeof startBridgeHarness>[0],
  body: (h: BridgeHarness) => Promise<void>,
): Promise<void> {
  const h = await startBridgeHarness(options);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

const submitted = (h: BridgeHarness, messages: Parameters<BridgeHarness['outcomesOf']>[0]) =>
  h.outcomesOf(messages).filter((o): o is MessageSubmitted => o.type === 'message.submitted');

describe('supplier bridge failover', () => {
  test('a provider answering 5xx is routed around within its volume threshold; on recovery one probe, then traffic by weight', async () => {
    await withHarness(
      {
        providers: [
          { name: 'tw-a', breaker: BREAKER },
          { name: 'tw-b', breaker: BREAKER },
        ],
      },
      async (h) => {
        await h.fakes.get('tw-a')!.setFault({ kind: 'status', status: 503 });
        const started = Date.now();
        // Waves of 5 until A has refused its volume threshold, which opens its breaker: every
        // message A refused fails over to B. (How many of a wave reach A first is the weighted
        // draw's; all of them when they are in flight before A's first 503 returns.)
        const first: Awaited<ReturnType<typeof h.publish>> = [];
        for (let wave = 0; h.requestsTo('tw-a') < BREAKER.volumeThreshold; wave++) {
          assert.ok(wave < 10, 'A was never drawn');
          const sent = await h.publish(
            numbers(5, first.length).map((to, i) => ({ to, body: `outage ${first.length + i}` })),
          );
          first.push(...sent);
          await waitFor(() => submitted(h, sent).length === 5, 20_000, 'a wave submitted');
        }
        const triedA = h.requestsTo('tw-a');
        // From then on A's breaker is open: the rest goes straight to B, and A is not called.
        const rest = await h.publish(
          numbers(60 - first.length, first.length).map((to, i) => ({
            to,
            body: `outage ${first.length + i}`,
          })),
        );
        await waitFor(() => submitted(h, rest).length === rest.length, 20_000, 'the rest submitted');
        const during = [...first, ...rest];
        const elapsed = Date.now() - started;
        assert.ok(
          submitted(h, during).every((o) => o.provider === 'tw-b'),
          'every message went out through B',
        );
        assert.ok(elapsed < 10_000, `all delivered to B in ${elapsed} ms`);
        assert.ok(
          submitted(h, rest).every((o) => o.attempt === 1),
          'once the breaker opened, messages went straight to B',
        );
        assert.equal(h.requestsTo('tw-a'), triedA, 'A was not called while its breaker was open');
        assert.equal(h.copies().size, 60, 'no message lost');

        await h.fakes.get('tw-a')!.setFault(undefined);
        await sleep(BREAKER.resetTimeoutMs + 200);
        const before = h.requestsTo('tw-a');
        // One message at a time until one is drawn for A: the half-open breaker lets it through
        // as the probe, and its success closes the breaker. (A message drawn for B leaves A
        // half-open; had the 200 come then, A's first one would be the probe and the others
        // drawn for A while it was out would fail over to B.)
        const probes: Awaited<ReturnType<typeof h.publish>> = [];
        while (h.requestsTo('tw-a') === before) {
          assert.ok(probes.length < 20, 'A was never drawn for a probe');
          const sent = await h.publish([
            { to: `+1415555${9000 + probes.length}`, body: `probe ${probes.length}` },
          ]);
          probes.push(...sent);
          await waitFor(() => submitted(h, sent).length === 1, 10_000, 'probe message submitted');
        }
        assert.equal(h.requestsTo('tw-a'), before + 1, 'one probe reached A');
        assert.equal(submitted(h, probes).at(-1)?.provider, 'tw-a', 'the probe went out through A');
        const after = await h.publish(numbers(200, 2000).map((to, i) => ({ to, body: `recovered ${i}` })));
        await waitFor(() => submitted(h, after).length === 200, 30_000, 'all 200 submitted');
        const shareA = submitted(h, after).filter((o) => o.provider === 'tw-a').length / 200;
        assert.ok(h.requestsTo('tw-a') > before, 'A is called again after recovering');
        assert.ok(shareA > 0.3 && shareA < 0.7, `A takes its weight again (share ${shareA})`);
        assert.equal(h.copies().size, 260 + probes.length, 'every message once');
        assert.ok(
          [...h.copies().values()].every((n) => n === 1),
          'none twice',
        );
      },
    );
  });

  test('a provider refusing connections is routed around; nothing lost, nothing twice', async () => {
    await withHarness(
      {
        providers: [
          { name: 'tw-a', breaker: BREAKER },
          { name: 'tw-b', breaker: BREAKER },
        ],
      },
      async (h) => {
        await h.fakes.get('tw-a')!.setFault({ kind: 'refuse' });
        const messages = await h.publish(numbers(30, 500).map((to, i) => ({ to, body: `refused ${i}` })));
        await waitFor(() => submitted(h, messages).length === 30, 20_000, 'all 30 submitted');
        assert.ok(submitted(h, messages).every((o) => o.provider === 'tw-b'));
        assert.equal(h.copies().size, 30);
        assert.ok([...h.copies().values()].every((n) => n === 1));
      },
    );
  });

  test('a provider that takes messages and then times out: bulk is never sent twice, an OTP at most twice', async () => {
    const breaker = { ...BREAKER, timeoutMs: 300, volumeThreshold: 1_000 };
    await withHarness(
      {
        providers: [
          { name: 'tw-a', weight: 1_000_000, breaker },
          { name: 'tw-b', weight: 1, breaker },
        ],
      },
      async (h) => {
        await h.fakes.get('tw-a')!.setFault({ kind: 'acceptThenHang' });
        const bulk = await h.publish(
          numbers(20).map((to, i) => ({ to, body: `bulk ${i}`, class: 'marketing' as const })),
          { fromBatch: true },
        );
        const otp = await h.publish(
          numbers(10, 100).map((to, i) => ({
            to,
            body: `Your code is ${200000 + i}`,
            class: 'otp' as const,
          })),
        );
        await waitFor(() => h.outcomesOf([...bulk, ...otp]).length === 30, 30_000, 'an outcome for each');
        const copies = h.copies();
        for (const message of bulk) {
          assert.equal(copies.get(message.body), 1, 'a bulk message reached the providers once');
          const outcome = h.outcomesOf([message])[0] as MessageFailed;
          assert.equal(outcome.status, 'unknown', 'and ends unknown, not re-sent');
        }
        for (const message of otp) {
          const n = copies.get(message.body) ?? 0;
          assert.ok(n >= 1 && n <= 2, `an OTP reached the providers ${n} times`);
          assert.equal(h.outcomesOf([message])[0]?.type, 'message.submitted', 'and went out through B');
        }
        assert.equal(h.requestsTo('tw-b'), 10, 'only the OTPs failed over');
      },
    );
  });

  test('a 429 with Retry-After: no request reaches that provider before the time passes', async () => {
    await withHarness(
      {
        providers: [
          { name: 'tw-a', weight: 1_000_000, breaker: BREAKER },
          { name: 'tw-b', weight: 1, breaker: BREAKER },
        ],
      },
      async (h) => {
        const a = h.fakes.get('tw-a')!;
        await a.setFault({ kind: 'throttle', retryAfterSeconds: 3 });
        const first = await h.publish([{ to: '+14155551000', body: 'first' }]);
        await waitFor(() => submitted(h, first).length === 1, 10_000, 'first submitted through B');
        const throttledAt = Date.now();
        await a.setFault(undefined);
        const paused: Awaited<ReturnType<BridgeHarness['publish']>> = [];
        while (Date.now() - throttledAt < 2_500) {
          paused.push(...(await h.publish([{ to: '+14155551001', body: `while paused ${paused.length}` }])));
          await sleep(100);
        }
        await waitFor(() => submitted(h, paused).length === paused.length, 10_000, 'all sent while paused');
        assert.equal(h.requestsTo('tw-a'), 1, 'only the throttled request reached A');
        assert.ok(submitted(h, paused).every((o) => o.provider === 'tw-b'));

        await sleep(Math.max(0, throttledAt + 3_200 - Date.now()));
        const later = await h.publish([{ to: '+14155551002', body: 'after the pause' }]);
        await waitFor(() => submitted(h, later).length === 1, 10_000, 'sent after the pause');
        assert.equal(submitted(h, later)[0]?.provider, 'tw-a', 'A takes traffic again once the pause passed');
      },
    );
  });

  test('all providers down: bounded attempts, expired at expiry; unexpired ones go out when a provider returns', async () => {
    await withHarness(
      {
        providers: [
          { name: 'tw-a', breaker: BREAKER },
          { name: 'tw-b', breaker: BREAKER },
        ],
      },
      async (h) => {
        for (const fake of h.fakes.values()) await fake.setFault({ kind: 'status', status: 503 });
        const shortLived = await h.publish(
          numbers(5).map((to, i) => ({ to, body: `short ${i}`, ttlSeconds: 8 })),
        );
        const longLived = await h.publish(
          numbers(5, 50).map((to, i) => ({ to, body: `long ${i}`, ttlSeconds: 600 })),
        );
        await waitFor(() => h.outcomesOf(shortLived).length === 5, 60_000, 'short-lived messages settled');
        for (const outcome of h.outcomesOf(shortLived)) {
          assert.equal(outcome.type, 'message.failed');
          assert.equal(outcome.status, 'expired');
        }
        const calls = h.requestsTo('tw-a') + h.requestsTo('tw-b');
        assert.ok(calls <= 40, `${calls} provider calls for 10 messages over ~8 s: no retry storm`);
        assert.equal(h.outcomesOf(longLived).length, 0, 'long-lived messages still wait');

        await h.fakes.get('tw-a')!.setFault(undefined);
        await waitFor(
          () => submitted(h, longLived).length === 5,
          60_000,
          'waiting messages sent once A is back',
        );
        assert.ok([...h.copies().values()].every((n) => n === 1));
        assert.equal(h.copies().size, 5, 'the expired ones never went out');
      },
    );
  });

  test('an invalid number fails permanently and never trips the breaker', async () => {
    await withHarness(
      {
        providers: [
          { name: 'tw-a', breaker: BREAKER },
          { name: 'tw-b', breaker: BREAKER },
        ],
      },
      async (h) => {
        for (const fake of h.fakes.values()) await fake.setFault({ kind: 'error', code: 21211 });
        const messages = await h.publish(numbers(20).map((to, i) => ({ to, body: `invalid ${i}` })));
        await waitFor(() => h.outcomesOf(messages).length === 20, 20_000, 'all settled');
        for (const outcome of h.outcomesOf(messages)) {
          assert.equal(outcome.type, 'message.failed');
          assert.equal(outcome.errorClass, 'permanent');
          assert.equal(outcome.errorCode, '21211');
        }
        assert.equal(h.requestsTo('tw-a') + h.requestsTo('tw-b'), 20, 'one call each, no failover');
        const states = await h.registry.getSingleMetric('pigeon_bridge_breaker_state')!.get();
        assert.ok(
          states.values.every((v) => v.value === 0),
          'every breaker stays closed',
        );
      },
    );
  });
});
