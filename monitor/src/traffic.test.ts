import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Traffic } from './traffic.ts';

const T0 = 1_767_225_600_000;

function traffic() {
  const clock = { now: T0 };
  return { clock, t: new Traffic({ receiptGraceMs: 30_000, now: () => clock.now }) };
}

const sub = (messageId: string, at: number, provider = 'a', country = 'GB', cls = 'otp') => ({
  messageId,
  provider,
  country,
  class: cls,
  latencyMs: 200,
  at,
});

test('a delivered rate counts only submissions old enough to have a receipt', () => {
  const { clock, t } = traffic();
  for (let i = 0; i < 10; i++) t.submitted(sub(`m${i}`, T0));
  for (let i = 0; i < 6; i++)
    t.receipt({ messageId: `m${i}`, provider: 'a', status: 'delivered', at: T0 + 2_000 });
  clock.now = T0 + 10_000;
  assert.equal(t.series(60_000, [])[0]!.stats.deliveredRate, undefined, 'too young to judge');
  clock.now = T0 + 40_000;
  const stats = t.series(60_000, [])[0]!.stats;
  assert.deepEqual([stats.matured, stats.delivered, stats.deliveredRate], [10, 6, 0.6]);
  assert.ok(stats.receiptLagP95Seconds! > 1 && stats.receiptLagP95Seconds! <= 2);
  t.receipt({ messageId: 'm7', provider: 'a', status: 'delivered', at: clock.now });
  assert.equal(t.series(60_000, [])[0]!.stats.delivered, 7, 'a late receipt lifts its own cohort');
});

test('a receipt that overtakes its submission is applied when the submission comes', () => {
  const { clock, t } = traffic();
  t.receipt({ messageId: 'm1', provider: 'a', status: 'delivered', at: T0 + 1 });
  t.submitted(sub('m1', T0));
  clock.now += 60_000;
  assert.equal(t.series(120_000, [])[0]!.stats.delivered, 1);
  assert.equal(t.tracked, 0);
});

test('a failover copy is a submission of its own provider; each receipt settles its own copy', () => {
  const { clock, t } = traffic();
  t.submitted(sub('m1', T0, 'a'));
  t.submitted(sub('m1', T0 + 20_000, 'b'));
  t.submitted(sub('m1', T0 + 20_000, 'b'));
  t.receipt({ messageId: 'm1', provider: 'b', status: 'delivered', at: T0 + 21_000 });
  clock.now += 120_000;
  const byProvider = Object.fromEntries(
    t.series(600_000, ['provider']).map((s) => [s.labels.provider, [s.stats.submitted, s.stats.delivered]]),
  );
  assert.deepEqual(byProvider, { a: [1, 0], b: [2, 1] }, 'a replayed submission counts, its copy waits once');
});

test('intermediate receipts wait; failed ones count against the rate', () => {
  const { clock, t } = traffic();
  t.submitted(sub('m1', T0));
  t.submitted(sub('m2', T0));
  assert.equal(t.receipt({ messageId: 'm1', provider: 'a', status: 'unknown', at: T0 }), undefined);
  assert.deepEqual(t.receipt({ messageId: 'm1', provider: 'a', status: 'undelivered', at: T0 }), {
    provider: 'a',
    country: 'GB',
    class: 'otp',
  });
  t.receipt({ messageId: 'm2', provider: 'a', status: 'delivered', at: T0 });
  clock.now += 60_000;
  assert.equal(t.series(120_000, [])[0]!.stats.deliveredRate, 0.5);
});

test('only failures the provider caused lower its submit success rate', () => {
  const { t } = traffic();
  t.submitted(sub('m1', T0));
  t.failed({ provider: 'a', country: 'GB', class: 'otp', errorClass: 'retryable', at: T0 });
  t.failed({ provider: 'a', country: 'GB', class: 'otp', errorClass: 'permanent', at: T0 });
  t.failed({ country: 'GB', class: 'otp', errorClass: 'expired', at: T0 });
  assert.equal(t.series(60_000, [])[0]!.stats.submitSuccessRate, 0.5);
});

test('a sampled-out receipt takes its message out of the books entirely', () => {
  const { clock, t } = traffic();
  t.submitted(sub('m1', T0, 'a', 'GB', 'marketing'));
  t.submitted(sub('m2', T0, 'a', 'GB', 'marketing'));
  assert.equal(t.classOf('m1'), 'marketing');
  assert.equal(t.unobserved('m1'), true);
  assert.equal(t.unobserved('m1'), false);
  t.receipt({ messageId: 'm2', provider: 'a', status: 'delivered', at: T0 });
  clock.now += 60_000;
  const stats = t.series(120_000, [])[0]!.stats;
  assert.deepEqual([stats.submitted, stats.matured, stats.deliveredRate], [2, 1, 1]);
});

test('series split by the labels asked for, filtered by match', () => {
  const { clock, t } = traffic();
  t.submitted(sub('m1', T0, 'a', 'GB', 'otp'));
  t.submitted(sub('m2', T0, 'a', 'FR', 'otp'));
  t.submitted(sub('m3', T0, 'b', 'GB', 'marketing'));
  clock.now += 1;
  const count = (by: Parameters<Traffic['series']>[1], match = {}) =>
    t
      .series(60_000, by, match)
      .map((s) => `${Object.values(s.labels).join('/') || '*'}=${s.stats.submitted}`)
      .sort();
  assert.deepEqual(count([]), ['*=3']);
  assert.deepEqual(count(['provider']), ['a=2', 'b=1']);
  assert.deepEqual(count(['country'], { provider: 'a' }), ['FR=1', 'GB=1']);
  assert.deepEqual(count(['provider', 'class'], { country: 'GB' }), ['a/otp=1', 'b/marketing=1']);
});

test('submissions wait for a receipt at most the horizon, and at most maxTracked of them', () => {
  const clock = { now: T0 };
  const t = new Traffic({ maxTracked: 2, now: () => clock.now });
  t.submitted(sub('m1', T0));
  t.submitted(sub('m2', T0));
  t.submitted(sub('m3', T0));
  assert.equal(t.tracked, 2);
  assert.equal(t.evicted, 1);
  clock.now += 21 * 60_000;
  t.submitted(sub('m4', clock.now));
  assert.equal(t.tracked, 1);
});
