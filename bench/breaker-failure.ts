/**
 * What one provider failure costs the supplier bridge's circuit breaker to judge, with the window
 * full: `BENCH_WINDOW_CALLS` successes (30,000: ten seconds at 3,000 sends a second) and then
 * failures, each timed in CPU. Ours is the breaker `BreakerRegistry` builds
 * (supplier-bridge/src/dispatch/breakers.ts); the baseline is opossum with the same settings and
 * its own defaults otherwise, which keep every call's latency and sort the window's for each
 * failure. No I/O; the provider answers at once.
 *
 *   node --import tsx bench/breaker-failure.ts
 *
 * Ends with one JSON line: {"bench":"breaker-failure","ours":{…},"baseline":{…},"ratio":baseline/ours
 * µs per failure}.
 */
import CircuitBreaker from 'opossum';
import { Registry } from 'prom-client';
import { createLogger } from '../core/logger.ts';
import { ProviderError, type SendRequest, type SendResult } from '../providers/provider.ts';
import { BreakerRegistry } from '../supplier-bridge/src/dispatch/breakers.ts';
import { FakeProvider, unavailable } from '../test/support/dispatch-harness.ts';
import { envInt } from './support.ts';

type Fire = (request: SendRequest, signal: AbortSignal) => Promise<SendResult>;

const SETTINGS = { volumeThreshold: 10, errorThresholdPercentage: 101 };

async function measure(provider: FakeProvider, fire: Fire, windowCalls: number, failures: number) {
  const request = { messageId: 'bench' } as SendRequest;
  const signal = new AbortController().signal;
  provider.answer(async (r) => ({ providerMessageId: `pm-${r.messageId}` }));
  for (let i = 0; i < windowCalls; i++) await fire(request, signal);
  provider.answer(unavailable);
  const before = process.cpuUsage();
  for (let i = 0; i < failures; i++) {
    await fire(request, signal).then(
      () => {
        throw new Error('the provider was to fail');
      },
      (err: unknown) => {
        if (!(err instanceof ProviderError)) throw err;
      },
    );
  }
  const cpu = process.cpuUsage(before);
  return {
    window_calls: windowCalls,
    us_per_failure: Math.round(((cpu.user + cpu.system) / failures) * 10) / 10,
  };
}

async function main(): Promise<void> {
  const windowCalls = envInt('BENCH_WINDOW_CALLS', 30_000);
  const failures = envInt('BENCH_FAILURES', 300);

  const theirsProvider = new FakeProvider('a');
  // Never opens (threshold over 100 %), so every failure is judged against the full window.
  const theirs = new CircuitBreaker((r: SendRequest, s: AbortSignal) => theirsProvider.send(r, s), {
    timeout: false,
    errorThresholdPercentage: SETTINGS.errorThresholdPercentage,
    volumeThreshold: SETTINGS.volumeThreshold,
    rollingCountTimeout: 10_000,
  });
  const baseline = await measure(theirsProvider, (r, s) => theirs.fire(r, s), windowCalls, failures);
  theirs.shutdown();

  const registry = new BreakerRegistry({
    registry: new Registry(),
    logger: createLogger({ level: 'silent' }),
  });
  const ourProvider = new FakeProvider('a');
  const ours = registry.breakerFor(
    {
      provider: 'a',
      adapter: ourProvider,
      definition: { name: 'a', type: 'http', breaker: SETTINGS },
      senderId: undefined,
      costPerMessage: 0,
    },
    'US',
  );
  const measured = await measure(ourProvider, (r, s) => ours.fire(r, s), windowCalls, failures);
  registry.close();

  process.stdout.write(
    [
      `breaker: CPU to judge one provider failure with ${windowCalls} calls in the window`,
      `baseline (opossum defaults): ${baseline.us_per_failure} µs per failure`,
      `ours (BreakerRegistry):      ${measured.us_per_failure} µs per failure`,
      '',
    ].join('\n'),
  );
  const ratio = Math.round((baseline.us_per_failure / measured.us_per_failure) * 10) / 10;
  process.stdout.write(`${JSON.stringify({ bench: 'breaker-failure', ours: measured, baseline, ratio })}\n`);
}

await main();
