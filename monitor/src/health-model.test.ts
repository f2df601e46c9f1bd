import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Baselines, baselineKey, wilsonUpper } from '../../alerting/baseline.ts';
import { loadConfig } from '../../core/config.ts';
import { type HealthSignal, HealthModel, type RateSample } from './health-model.ts';

/** A source where each provider × country delivers a given rate with `perWindow` messages per minute. */
function source(rates: Map<string, number>, perMinute = 120, conversion?: Map<string, number>) {
  return (signal: HealthSignal, windowMs: number): RateSample[] => {
    const table = signal === 'delivered_rate' ? rates : conversion;
    if (!table) return [];
    return [...table].map(([key, rate]) => {
      const [provider = '', country = ''] = key.split('/');
      const trials = Math.round((perMinute * windowMs) / 60_000);
      return { provider, country, trials, successes: Math.round(trials * rate) };
    });
  };
}

function model() {
  const baselines = new Baselines({ warmupMs: 10 * 60_000 });
  return { baselines, model: new HealthModel({ baselines }) };
}

/** Runs the model every 10 s for `ms`, returning every verdict published. */
function run(m: HealthModel, src: ReturnType<typeof source>, clock: { now: number }, ms: number) {
  const verdicts = [];
  for (let t = 0; t < ms; t += 10_000) {
    clock.now += 10_000;
    verdicts.push(...m.update(src, clock.now).map((v) => ({ ...v, at: clock.now })));
  }
  return verdicts;
}

test('a provider at its usual rate publishes nothing: healthy is the default', () => {
  const { model: m } = model();
  const clock = { now: 0 };
  const verdicts = run(m, source(new Map([['a/GB', 0.95]])), clock, 30 * 60_000);
  assert.deepEqual(verdicts, []);
});

test('a silent provider in one country drops at once; the other country and provider stay healthy', () => {
  const { model: m } = model();
  const clock = { now: 0 };
  const rates = new Map([
    ['a/GB', 0.95],
    ['a/FR', 0.9],
    ['b/GB', 0.97],
  ]);
  run(m, source(rates), clock, 20 * 60_000);
  rates.set('a/GB', 0.3);
  const verdicts = run(m, source(rates), clock, 10_000);
  assert.equal(verdicts.length, 1);
  assert.equal(verdicts[0]!.provider, 'a');
  assert.equal(verdicts[0]!.country, 'GB');
  assert.ok(Math.abs(verdicts[0]!.health - 0.3 / 0.95) < 0.01, `health ${verdicts[0]!.health}`);
  assert.match(verdicts[0]!.reason, /degraded: delivered rate 30 % against a baseline of 95 %/);
});

test('health recovers by at most 0.1 a minute, repeating itself while below 1, and says 1 once', () => {
  const { model: m } = model();
  const clock = { now: 0 };
  const rates = new Map([['a/GB', 0.95]]);
  run(m, source(rates), clock, 20 * 60_000);
  rates.set('a/GB', 0.1);
  run(m, source(rates), clock, 3 * 60_000);
  rates.set('a/GB', 0.95);
  const verdicts = run(m, source(rates), clock, 15 * 60_000);
  for (let i = 1; i < verdicts.length; i++) {
    const minutes = (verdicts[i]!.at - verdicts[i - 1]!.at) / 60_000;
    assert.ok(
      verdicts[i]!.health - verdicts[i - 1]!.health <= 0.1 * minutes + 0.001,
      'published to 3 decimals',
    );
    assert.ok(verdicts[i]!.at - verdicts[i - 1]!.at <= 60_000, 'repeated at least every minute');
  }
  assert.equal(verdicts.at(-1)!.health, 1);
  assert.equal(verdicts.filter((v) => v.health === 1).length, 1);
  const recoveryMinutes = (verdicts.at(-1)!.at - verdicts[0]!.at) / 60_000;
  assert.ok(recoveryMinutes >= 8, `full recovery took ${recoveryMinutes} min`);
});

test('the baseline does not learn an outage as the new normal within the hour', () => {
  const { baselines, model: m } = model();
  const clock = { now: 0 };
  const rates = new Map([['a/GB', 0.95]]);
  run(m, source(rates), clock, 30 * 60_000);
  rates.set('a/GB', 0.2);
  run(m, source(rates), clock, 60 * 60_000);
  const baseline = baselines.get(baselineKey('delivered_rate', { provider: 'a', country: 'GB' }, 60_000))!;
  assert.ok(baseline > 0.85, `baseline ${baseline}`);
  assert.ok(m.snapshot()[0]!.health < 0.3);
});

test('few samples or a route that never reports receipts decide nothing', () => {
  const { model: m } = model();
  const clock = { now: 0 };
  run(m, source(new Map([['a/GB', 0.9]]), 1), clock, 20 * 60_000);
  assert.deepEqual(run(m, source(new Map([['a/GB', 0]]), 1), clock, 5 * 60_000), [], 'under 20 a window');
  const silentRoute = model().model;
  const verdicts = run(silentRoute, source(new Map([['a/GB', 0]])), clock, 30 * 60_000);
  assert.deepEqual(verdicts, [], 'a baseline of 0 says nothing about health');
});

test('OTP conversion is a signal of its own, and the worse signal wins', () => {
  const { model: m } = model();
  const clock = { now: 0 };
  const delivered = new Map([['a/US', 0.98]]);
  const conversion = new Map([['a/US', 0.8]]);
  run(m, source(delivered, 120, conversion), clock, 20 * 60_000);
  conversion.set('a/US', 0.2);
  const verdicts = run(m, source(delivered, 120, conversion), clock, 10_000);
  assert.equal(verdicts.length, 1);
  assert.match(verdicts[0]!.reason, /OTP conversion 20 %/);
  assert.ok(Math.abs(verdicts[0]!.health - 0.25) < 0.01);
});

test('a seeded verdict continues its recovery, and without evidence holds, then goes quiet', () => {
  const { model: m } = model();
  const clock = { now: 0 };
  m.seed('a', 'GB', 0.4, clock.now);
  const held = run(m, source(new Map()), clock, 5 * 60_000);
  assert.ok(held.length >= 4 && held.every((v) => v.health === 0.4), 'repeated, unchanged');
  const later = run(m, source(new Map()), clock, 30 * 60_000);
  assert.ok(later.length < 30, 'stops repeating once stale');
  assert.deepEqual(m.snapshot(), []);
});

test('the Wilson bound is optimistic for small samples and tight for large ones', () => {
  assert.ok(wilsonUpper(5, 20) > 0.45);
  assert.ok(wilsonUpper(500, 2000) < 0.27);
  assert.equal(wilsonUpper(0, 0), 1);
});

const floors = loadConfig({}).monitor.floors;

test('a fresh model with floors calls a provider that delivers nothing unhealthy at once, not the others', () => {
  const baselines = new Baselines();
  const m = new HealthModel({ baselines, floors });
  const clock = { now: 0 };
  const rates = new Map([
    ['a/GB', 0],
    ['b/GB', 0.97],
  ]);
  const verdicts = run(m, source(rates), clock, 10_000);
  assert.equal(verdicts.length, 1);
  assert.equal(verdicts[0]!.provider, 'a');
  assert.equal(verdicts[0]!.health, 0);
  assert.match(
    verdicts[0]!.reason,
    /degraded: delivered rate 0 % against the floor, no baseline yet \(0.5 min, 60 messages\)/,
  );
  assert.deepEqual(
    m.floorStandingsNow(clock.now).map((f) => [f.provider, f.signal, f.below]),
    [
      ['a', 'delivered_rate', true],
      ['b', 'delivered_rate', false],
    ],
  );
  assert.deepEqual(m.blind(clock.now), [], 'the floors judge both');
});

test('a provider dead from its first minute stays unhealthy: its baseline never learns 0 % as normal', () => {
  const baselines = new Baselines();
  const m = new HealthModel({ baselines, floors });
  const clock = { now: 0 };
  run(m, source(new Map([['a/GB', 0]])), clock, 40 * 60_000);
  assert.equal(
    baselines.get(baselineKey('delivered_rate', { provider: 'a', country: 'GB' }, 60_000)),
    undefined,
  );
  assert.equal(m.snapshot()[0]!.health, 0);
  assert.equal(m.floorStandingsNow(clock.now)[0]!.below, true);
});

test('once a baseline is warm it judges instead of the floor, and a route without receipts is judged by neither', () => {
  const baselines = new Baselines();
  const m = new HealthModel({ baselines, floors });
  const clock = { now: 0 };
  const rates = new Map([['a/GB', 0.95]]);
  run(m, source(rates), clock, 11 * 60_000);
  assert.deepEqual(m.floorStandingsNow(clock.now), [], 'the baseline speaks now');
  rates.set('a/GB', 0.3);
  const [verdict] = run(m, source(rates), clock, 10_000);
  assert.match(verdict!.reason, /against a baseline of 95 %/);

  // A prior of 0: the operator says this route sends no receipts.
  const quiet = new HealthModel({ baselines: new Baselines(), floors, prior: () => 0 });
  assert.deepEqual(run(quiet, source(new Map([['c/GB', 0]])), clock, 20 * 60_000), []);
  assert.deepEqual(quiet.floorStandingsNow(clock.now), []);
  assert.deepEqual(quiet.blind(clock.now), []);
});

test('with a prior the baseline judges from the first minute', () => {
  const m = new HealthModel({
    baselines: new Baselines(),
    floors,
    prior: (signal, provider) => (signal === 'delivered_rate' && provider === 'a' ? 0.95 : undefined),
  });
  const clock = { now: 0 };
  const [verdict] = run(m, source(new Map([['a/GB', 0.3]])), clock, 10_000);
  assert.ok(Math.abs(verdict!.health - 0.3 / 0.95) < 0.01, `health ${verdict!.health}`);
  assert.match(verdict!.reason, /against a baseline of 95 %/);
});

test('traffic too thin for a floor and without a baseline is blind, and says for how long', () => {
  const m = new HealthModel({ baselines: new Baselines(), floors });
  const clock = { now: 0 };
  // One message a minute: a 15-minute window holds 15, under the floor's 20.
  run(m, source(new Map([['a/GB', 0]]), 1), clock, 6 * 60_000);
  const [blind] = m.blind(clock.now);
  assert.equal(blind!.provider, 'a');
  assert.ok(blind!.seconds >= 5 * 60 && blind!.seconds <= 6 * 60, `${blind!.seconds} s`);
  // More traffic: the floor can judge, and the monitor is no longer blind.
  run(m, source(new Map([['a/GB', 0]]), 120), clock, 10_000);
  assert.deepEqual(m.blind(clock.now), []);
  // No traffic at all is nothing to be blind about.
  const idle = new HealthModel({ baselines: new Baselines(), floors });
  run(idle, source(new Map()), clock, 10 * 60_000);
  assert.deepEqual(idle.blind(clock.now), []);
});

test('OTP conversion at zero with enough codes sent is below its floor before any baseline', () => {
  const m = new HealthModel({ baselines: new Baselines(), floors });
  const clock = { now: 0 };
  const [verdict] = run(m, source(new Map([['a/US', 0.99]]), 120, new Map([['a/US', 0]])), clock, 10_000);
  assert.equal(verdict!.health, 0);
  assert.match(verdict!.reason, /OTP conversion 0 % against the floor/);
});

test('below the floor holds while the provider gets too little traffic to show otherwise', () => {
  const m = new HealthModel({ baselines: new Baselines(), floors });
  const clock = { now: 0 };
  run(m, source(new Map([['a/GB', 0]])), clock, 10_000);
  assert.equal(m.snapshot()[0]!.health, 0);
  // Marked dead, it gets a trickle: too little for the short windows, while the 5-minute one
  // still holds its deliveries from before it died.
  const trickle = (signal: HealthSignal, windowMs: number): RateSample[] =>
    signal !== 'delivered_rate'
      ? []
      : windowMs <= 60_000
        ? [{ provider: 'a', country: 'GB', successes: 0, trials: 5 }]
        : [{ provider: 'a', country: 'GB', successes: 40, trials: 80 }];
  run(m, trickle, clock, 5 * 60_000);
  assert.equal(m.snapshot()[0]!.health, 0, 'no recovery on old evidence');
  assert.equal(m.floorStandingsNow(clock.now)[0]!.below, true);
  // Deliveries in the window that showed it dead lift it.
  run(m, source(new Map([['a/GB', 0.9]])), clock, 10_000);
  assert.equal(m.floorStandingsNow(clock.now)[0]!.below, false);
  assert.ok(m.snapshot()[0]!.health > 0, 'recovering');
});
