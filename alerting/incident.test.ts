import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PigeonError } from '../core/errors.ts';
import type { AlertNotification } from './notification.ts';
import {
  dueNotifications,
  type Incident,
  type Phase,
  SIGNALS,
  signalFor,
  silenceFor,
  INCIDENT_TRANSITIONS,
} from './incident.ts';
import { IncidentEngine } from './incident-engine.ts';
import type { Notifier } from './notifier.ts';
import { compileRule, fingerprintOf, type SeriesEvaluation } from './rules.ts';

/** Records every notification; a chain listed in `failing` rejects (retriably unless `forGood`). */
class RecordingNotifier implements Notifier {
  readonly sent: Array<{ notification: AlertNotification; channels: readonly string[] }> = [];
  failing = new Set<string>();
  forGood = false;
  async notify(notification: AlertNotification, channels: readonly string[]): Promise<void> {
    if (channels.some((c) => this.failing.has(c))) {
      throw Object.assign(new Error('down'), { retriable: !this.forGood });
    }
    this.sent.push({ notification, channels });
  }
  kinds(): string[] {
    return this.sent.map((s) => `${s.notification.kind}:${s.channels.join('+')}`);
  }
}

const PHASES: Phase[] = ['none', 'pending', 'firing', 'resolved'];

test('the transition table covers every phase and signal', () => {
  for (const phase of PHASES) {
    assert.deepEqual(Object.keys(INCIDENT_TRANSITIONS[phase]).sort(), [...SIGNALS].sort(), phase);
  }
});

test('transitions: exhaustively, the lifecycle only moves forward', () => {
  const order: Record<Phase, number> = { none: 0, pending: 1, firing: 2, resolved: 3 };
  const expected: Record<Phase, Record<string, Phase | null>> = {
    none: {
      breach: 'pending',
      breach_held: 'firing',
      clear: 'none',
      clear_held: 'none',
      no_data: 'none',
      no_data_expired: 'none',
      ack: null,
    },
    pending: {
      breach: 'pending',
      breach_held: 'firing',
      clear: 'none',
      clear_held: 'none',
      no_data: 'pending',
      no_data_expired: 'none',
      ack: 'pending',
    },
    firing: {
      breach: 'firing',
      breach_held: 'firing',
      clear: 'firing',
      clear_held: 'resolved',
      no_data: 'firing',
      no_data_expired: 'resolved',
      ack: 'firing',
    },
    resolved: Object.fromEntries(SIGNALS.map((s) => [s, s === 'ack' ? null : 'resolved'])),
  };
  for (const phase of PHASES) {
    for (const signal of SIGNALS) {
      const next = INCIDENT_TRANSITIONS[phase][signal];
      assert.equal(next, expected[phase][signal], `${phase} × ${signal}`);
      // Only a pending incident that never fired may vanish; everything else moves forward.
      if (next !== null && !(phase === 'pending' && next === 'none')) {
        assert.ok(order[next] >= order[phase], `${phase} × ${signal} → ${next}`);
      }
    }
  }
});

test('signals: for and clearFor are measured from the first breach and the first clear', () => {
  const rule = { forMs: 60_000, clearForMs: 30_000 };
  const pending = { state: 'pending' as const, pendingSince: 0, lastDataAt: 0 };
  const firing = { state: 'firing' as const, pendingSince: 0, lastDataAt: 0, clearSince: 100_000 };
  assert.equal(signalFor(undefined, true, rule, 1e6, 0), 'breach');
  assert.equal(signalFor(undefined, true, { ...rule, forMs: 0 }, 1e6, 0), 'breach_held');
  assert.equal(signalFor(pending, true, rule, 1e6, 59_999), 'breach');
  assert.equal(signalFor(pending, true, rule, 1e6, 60_000), 'breach_held');
  assert.equal(signalFor(pending, false, rule, 1e6, 60_000), 'clear');
  assert.equal(signalFor(firing, false, rule, 1e6, 129_999), 'clear');
  assert.equal(signalFor(firing, false, rule, 1e6, 130_000), 'clear_held');
  assert.equal(signalFor({ ...firing, clearSince: undefined }, false, rule, 1e6, 500_000), 'clear');
  assert.equal(signalFor(firing, undefined, rule, 600_000, 599_999), 'no_data');
  assert.equal(signalFor(firing, undefined, rule, 600_000, 600_000), 'no_data_expired');
  assert.equal(signalFor(undefined, undefined, rule, 0, 5), 'no_data');
});

function incident(overrides: Partial<Incident> = {}): Incident {
  return {
    id: '01J0000000000000000000000A',
    ruleId: 'r',
    fingerprint: 'r{provider=a}',
    metric: 'delivered_rate',
    labels: { provider: 'a', country: 'GB' },
    severity: 'critical',
    state: 'firing',
    pendingSince: 0,
    firedAt: 0,
    lastDataAt: 0,
    value: 0.2,
    worstValue: 0.2,
    samples: 100,
    ackCode: '1234',
    escalationStep: 0,
    steps: {},
    ...overrides,
  };
}

const STEPS = [
  { afterMs: 0, channels: ['chat'] },
  { afterMs: 10 * 60_000, channels: ['oncall-sms'] },
  { afterMs: 30 * 60_000, channels: ['pagerduty', 'email'] },
];

test('due: the firing notice, then each escalation step once its time came and nobody acknowledged', () => {
  const kinds = (i: Incident, now: number, silenced = false) =>
    dueNotifications(i, STEPS, 3_600_000, silenced, now).map((d) => `${d.kind}:${d.step}`);
  assert.deepEqual(kinds(incident(), 0), ['firing:0']);
  assert.deepEqual(kinds(incident({ state: 'pending' }), 0), [], 'pending says nothing');
  const announced = incident({ announcedAt: 0, steps: { 0: { notifiedAt: 0, lastAt: 0 } } });
  assert.deepEqual(kinds(announced, 9 * 60_000), []);
  assert.deepEqual(kinds(announced, 10 * 60_000), ['escalation:1']);
  assert.deepEqual(kinds(announced, 31 * 60_000), ['escalation:1', 'escalation:2']);
  assert.deepEqual(kinds({ ...announced, ackedAt: 60_000 }, 31 * 60_000), [], 'acknowledged: no escalation');
  assert.deepEqual(kinds(announced, 60 * 60_000), ['reminder:0', 'escalation:1', 'escalation:2']);
  assert.deepEqual(kinds({ ...announced, ackedAt: 1 }, 2 * 3_600_000), [], 'acknowledged: no reminder');
  assert.deepEqual(kinds(announced, 31 * 60_000, true), [], 'silenced');
});

test('due: the resolved notice goes to every step told, silenced or not, once', () => {
  const resolved = incident({
    state: 'resolved',
    steps: { 0: { notifiedAt: 0 }, 1: { notifiedAt: 5, resolvedAt: 9 }, 2: { abandonedAt: 3 } },
  });
  const due = dueNotifications(resolved, STEPS, 0, true, 100);
  assert.deepEqual(
    due.map((d) => [d.kind, d.step, d.channels]),
    [['resolved', 0, ['chat']]],
  );
});

test('due: a step waiting for a retry or given up is skipped', () => {
  const waiting = incident({ steps: { 0: { failures: 1, retryAt: 50 } } });
  assert.deepEqual(dueNotifications(waiting, STEPS, 0, false, 49), []);
  assert.equal(dueNotifications(waiting, STEPS, 0, false, 50).length, 1);
  assert.deepEqual(dueNotifications(incident({ steps: { 0: { abandonedAt: 1 } } }), STEPS, 0, false, 99), []);
});

test('silences match on labels, rule and severity, with * and expiry', () => {
  const i = incident();
  const silence = (matchers: Record<string, string>, endsAt = 100) => ({
    id: 's',
    matchers,
    startsAt: 0,
    endsAt,
    createdBy: 'me',
    comment: '',
    createdAt: 0,
  });
  assert.ok(silenceFor(i, [silence({ provider: 'a' })], 50));
  assert.ok(silenceFor(i, [silence({ rule: 'r', country: '*' })], 50));
  assert.ok(silenceFor(i, [silence({ severity: 'critical', country: 'GB' })], 50));
  assert.equal(silenceFor(i, [silence({ provider: 'b' })], 50), undefined);
  assert.equal(silenceFor(i, [silence({ provider: 'a' })], 100), undefined, 'expired');
  assert.equal(silenceFor(i, [silence({ service: 'api' })], 50), undefined, 'a label it lacks');
});

function engine(options: { rule?: Record<string, unknown>; policies?: boolean } = {}) {
  const clock = { now: 1_700_000_000_000 };
  const notifier = new RecordingNotifier();
  const rule = compileRule({
    id: 'drop',
    metric: 'delivered_rate',
    window: '1m',
    belowBaseline: 0.6,
    for: '30s',
    clearFor: '1m',
    severity: 'critical',
    channels: ['chat'],
    ...options.rule,
  });
  const e = new IncidentEngine({
    notifier,
    defaultChannels: [],
    policies: options.policies
      ? [{ id: 'default', steps: [{ afterMs: 5 * 60_000, channels: ['oncall-sms'] }] }]
      : [],
    now: () => clock.now,
    random: () => 0.42,
  });
  e.setRules([rule]);
  const evaluate = (breaching: boolean | undefined, value = breaching ? 0.2 : 0.95) => {
    const labels = { provider: 'a', country: 'GB' };
    const evaluation: SeriesEvaluation = {
      fingerprint: fingerprintOf('drop', labels),
      labels,
      value,
      samples: 100,
      threshold: 0.57,
      baseline: 0.95,
      breaching,
    };
    e.observe('drop', breaching === undefined ? [] : [evaluation]);
  };
  /** Evaluates every 10 s for `ms` and flushes after each. */
  const run = async (ms: number, breaching: boolean | undefined) => {
    for (let t = 0; t < ms; t += 10_000) {
      clock.now += 10_000;
      evaluate(breaching);
      await e.flush();
    }
  };
  return { clock, notifier, engine: e, run, rule };
}

test('a breach held for `for` fires once; recovery held for `clearFor` resolves once', async () => {
  const { notifier, run, engine: e } = engine();
  await run(20_000, true);
  assert.deepEqual(notifier.kinds(), [], 'pending for 20 s of a 30 s for');
  await run(5 * 60_000, true);
  assert.deepEqual(notifier.kinds(), ['firing:chat']);
  assert.equal(e.list()[0]!.state, 'firing');
  await run(50_000, false);
  assert.deepEqual(notifier.kinds(), ['firing:chat'], 'clear, not for a minute yet');
  await run(30_000, false);
  assert.deepEqual(notifier.kinds(), ['firing:chat', 'resolved:chat']);
  const [firing, resolved] = notifier.sent.map((s) => s.notification);
  assert.equal(firing!.incidentId, resolved!.incidentId);
  assert.match(firing!.title, /Delivered rate of a to GB is 20 % \(baseline 95 %\)/);
  assert.match(firing!.summary, /reply "ACK 4780"/);
  assert.match(resolved!.title, /^Resolved: Delivered rate of a to GB is back at 95 %/);
  assert.ok(resolved!.resolvedAt);
  assert.deepEqual(e.list(), [], 'nothing left in memory');
});

test('a breach that clears within `for` leaves no incident and says nothing', async () => {
  const { notifier, run, engine: e } = engine();
  await run(20_000, true);
  await run(10_000, false);
  await run(20_000, true);
  assert.deepEqual(notifier.kinds(), []);
  assert.deepEqual(e.takeChanged(), [], 'nothing for the store either');
});

test('a breach that comes back before clearFor keeps the same incident', async () => {
  const { notifier, run } = engine();
  await run(60_000, true);
  await run(30_000, false);
  await run(30_000, true);
  await run(30_000, false);
  assert.deepEqual(notifier.kinds(), ['firing:chat']);
});

test('without data the incident holds, and resolves as "no data" only after a long silence', async () => {
  const { notifier, run, engine: e } = engine();
  await run(60_000, true);
  await run(20 * 60_000, undefined);
  assert.deepEqual(notifier.kinds(), ['firing:chat'], 'a degraded provider gets little traffic: hold');
  await run(11 * 60_000, undefined);
  assert.deepEqual(notifier.kinds(), ['firing:chat', 'resolved:chat']);
  assert.deepEqual(e.list(), []);
});

test('unacknowledged, it escalates; acknowledged by SMS code, escalation and reminders stop', async () => {
  const a = engine({ policies: true });
  await a.run(60_000, true);
  await a.run(5 * 60_000, true);
  assert.deepEqual(a.notifier.kinds(), ['firing:chat', 'escalation:oncall-sms']);

  const b = engine({ policies: true, rule: { reminder: '2m' } });
  await b.run(60_000, true);
  const acked = b.engine.acknowledge('4780', 'sms:+4477009000');
  assert.equal(acked.ackedBy, 'sms:+4477009000');
  await b.run(10 * 60_000, true);
  assert.deepEqual(b.notifier.kinds(), ['firing:chat']);
  await b.run(2 * 60_000, false);
  assert.deepEqual(b.notifier.kinds(), ['firing:chat', 'resolved:chat']);
  assert.throws(
    () => b.engine.acknowledge(acked.id, 'x'),
    (err: PigeonError) => err.code === 'PIGEON_ERR_NOT_FOUND',
  );
});

test('reminders repeat to every step told while nobody acknowledges', async () => {
  const { notifier, run } = engine({ rule: { reminder: '5m' } });
  await run(60_000, true);
  await run(11 * 60_000, true);
  assert.deepEqual(notifier.kinds(), ['firing:chat', 'reminder:chat', 'reminder:chat']);
});

test('a chain that is down is retried with backoff; one refusing for good is given up', async () => {
  const a = engine();
  a.notifier.failing.add('chat');
  await a.run(2 * 60_000, true);
  assert.deepEqual(a.notifier.kinds(), []);
  a.notifier.failing.clear();
  await a.run(60_000, true);
  assert.deepEqual(a.notifier.kinds(), ['firing:chat'], 'delivered once it came back, once');

  const b = engine();
  b.notifier.failing.add('chat');
  b.notifier.forGood = true;
  await b.run(2 * 60_000, true);
  b.notifier.failing.clear();
  await b.run(5 * 60_000, true);
  assert.deepEqual(b.notifier.kinds(), []);
  assert.ok(b.engine.list()[0]!.steps['0']!.abandonedAt);
});

test('a silenced incident is announced when its silence ends, if it still fires', async () => {
  const { notifier, run, engine: e, clock } = engine();
  e.setSilences([
    {
      id: 's1',
      matchers: { provider: 'a' },
      startsAt: clock.now,
      endsAt: clock.now + 3 * 60_000,
      createdBy: 'ops',
      comment: 'maintenance',
      createdAt: clock.now,
    },
  ]);
  await run(2 * 60_000, true);
  assert.deepEqual(notifier.kinds(), []);
  await run(2 * 60_000, true);
  assert.deepEqual(notifier.kinds(), ['firing:chat']);
});

test('a restored incident carries on without repeating what was said', async () => {
  const a = engine();
  await a.run(60_000, true);
  const stored = a.engine.takeChanged();
  assert.equal(stored.length, 1);
  assert.equal(stored[0]!.state, 'firing');

  const b = engine();
  b.clock.now = a.clock.now;
  b.engine.restore(stored);
  await b.run(30_000, true);
  assert.deepEqual(b.notifier.kinds(), [], 'the firing notice was already sent');
  await b.run(90_000, false);
  assert.deepEqual(b.notifier.kinds(), ['resolved:chat']);
  assert.equal(b.notifier.sent[0]!.notification.incidentId, stored[0]!.id);
});

test('removing a rule resolves its firing incidents and forgets pending ones', async () => {
  const { notifier, run, engine: e } = engine();
  await run(60_000, true);
  e.setRules([]);
  await e.flush();
  assert.deepEqual(notifier.kinds(), ['firing:chat', 'resolved:chat']);
  const changed = e.takeChanged();
  assert.equal(changed.at(-1)!.resolution, 'rule removed or disabled');
});

test('acknowledging nothing or a resolved incident is refused', async () => {
  const { engine: e } = engine();
  assert.throws(
    () => e.acknowledge('9999', 'x'),
    (err: PigeonError) => err.code === 'PIGEON_ERR_NOT_FOUND',
  );
});
