import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PigeonError } from '../core/errors.ts';
import { Baselines } from './baseline.ts';
import { defaultRules } from './default-rules.ts';
import {
  compileRule,
  durationMs,
  evaluateRule,
  mergeRules,
  METRIC_NAMES,
  type MetricSample,
  type MetricSource,
} from './rules.ts';

test('the shipped rules compile, have unique ids and cover every metric', () => {
  const rules = defaultRules();
  assert.equal(new Set(rules.map((r) => r.id)).size, rules.length);
  for (const rule of rules) compileRule(rule);
  // provider_health is the monitor's own output: its causes (delivered rate, conversion) alert.
  const covered = new Set(rules.map((r) => r.metric));
  assert.deepEqual(
    METRIC_NAMES.filter((m) => !covered.has(m)),
    ['provider_health'],
  );
});

test('a rule has exactly one condition, labels its metric has, and channels that exist', () => {
  const base = { id: 'r', metric: 'delivered_rate', severity: 'warning' };
  const code = (value: unknown, known = {}) => {
    try {
      compileRule(value, known);
      return 'ok';
    } catch (err) {
      assert.ok(err instanceof PigeonError);
      return `${err.code} ${err.message}`;
    }
  };
  assert.match(code({ ...base }), /exactly one of below/);
  assert.match(code({ ...base, below: 0.5, above: 0.9 }), /exactly one of below/);
  assert.match(code({ ...base, below: 0.5, by: ['service'] }), /delivered_rate has no label "service"/);
  assert.match(code({ ...base, below: 0.5, window: '1h' }), /\/window from 10s to 15m/);
  assert.match(code({ ...base, below: 0.5, extra: 1 }), /PIGEON_ERR_VALIDATION/);
  assert.match(
    code({ ...base, below: 0.5, channels: ['nope'] }, { channels: ['ops'] }),
    /no channel named "nope"/,
  );
  assert.match(code({ ...base, below: 0.5, escalation: 'x' }, { escalations: [] }), /no escalation named/);
  assert.equal(code({ ...base, below: 0.5, escalation: 'none' }, { escalations: [] }), 'ok');
  const rule = compileRule({ ...base, belowBaseline: 0.6, for: '90s', reminder: '2h' });
  assert.deepEqual(
    [rule.windowMs, rule.forMs, rule.clearForMs, rule.reminderMs, rule.by],
    [300_000, 90_000, 60_000, 7_200_000, ['provider', 'country']],
  );
  assert.equal(durationMs('250ms'), 250);
});

test('later layers replace a rule of the same id whole, and can switch it off', () => {
  const merged = mergeRules(
    defaultRules(),
    [{ id: 'breaker-open', metric: 'breaker_state', above: 1.5, severity: 'critical' }],
    [{ id: 'service-down', metric: 'service_instances', below: 1, severity: 'critical', enabled: false }],
  );
  assert.equal(merged.find((r) => r.id === 'breaker-open')!.severity, 'critical');
  assert.equal(compileRule(merged.find((r) => r.id === 'service-down')).enabled, false);
  assert.equal(merged.length, defaultRules().length);
});

function sourceOf(values: Record<string, MetricSample[]>): MetricSource {
  return {
    series: (metric, windowMs) => values[`${metric}@${windowMs}`] ?? values[metric] ?? [],
  };
}

test('an absolute rule breaches with enough samples and says nothing without', () => {
  const rule = compileRule({
    id: 'slow',
    metric: 'submit_latency_p95_seconds',
    above: 5,
    minSamples: 20,
    severity: 'warning',
  });
  const source = sourceOf({
    submit_latency_p95_seconds: [
      { labels: { provider: 'a' }, value: 7, samples: 50 },
      { labels: { provider: 'b' }, value: 2, samples: 50 },
      { labels: { provider: 'c' }, value: 9, samples: 3 },
    ],
  });
  const result = evaluateRule(rule, source, new Baselines(), 0);
  assert.deepEqual(
    result.map((r) => [r.labels.provider, r.breaching, r.threshold]),
    [
      ['a', true, 5],
      ['b', false, 5],
      ['c', undefined, 5],
    ],
  );
  assert.equal(result[0]!.fingerprint, 'slow{provider=a}');
});

test('a relative rule waits for its baseline, then compares against it, learning slowly while breaching', () => {
  const rule = compileRule({
    id: 'drop',
    metric: 'delivered_rate',
    window: '1m',
    belowBaseline: 0.6,
    minSamples: 20,
    severity: 'critical',
  });
  const values: Record<string, MetricSample[]> = {};
  const set = (rate: number) => {
    values['delivered_rate@60000'] = [
      { labels: { provider: 'a', country: 'GB' }, value: rate, samples: 100 },
    ];
    values['delivered_rate@300000'] = [
      { labels: { provider: 'a', country: 'GB' }, value: rate, samples: 500 },
    ];
  };
  const baselines = new Baselines({ warmupMs: 10 * 60_000 });
  set(0.9);
  let now = 0;
  const first = evaluateRule(rule, sourceOf(values), baselines, now);
  assert.equal(first[0]!.breaching, undefined, 'no baseline yet');
  for (; now < 15 * 60_000; now += 10_000) evaluateRule(rule, sourceOf(values), baselines, now);
  set(0.3);
  const drop = evaluateRule(rule, sourceOf(values), baselines, now);
  assert.equal(drop[0]!.breaching, true);
  assert.ok(Math.abs(drop[0]!.baseline! - 0.9) < 1e-9);
  assert.ok(Math.abs(drop[0]!.threshold! - 0.54) < 1e-9);
  for (let i = 0; i < 360; i++) evaluateRule(rule, sourceOf(values), baselines, (now += 10_000));
  const hourLater = evaluateRule(rule, sourceOf(values), baselines, now + 10_000);
  assert.equal(hourLater[0]!.breaching, true, 'still breaching an hour into the outage');
});
