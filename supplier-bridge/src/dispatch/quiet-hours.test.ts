/** Quiet hours at the dispatcher, with the harness's clock: held through the night, across a DST change. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TenantMessagingPolicy } from '../../../core/store/kinds/messaging-policy.ts';
import {
  FakeProvider,
  asSubmitted,
  dispatchPass,
  requested,
  setup,
  type Harness,
} from '../../../test/support/dispatch-harness.ts';
import type { MessageRequested } from '../../../core/message.ts';
import type { PassResult } from './pass.ts';
import { passFromHeaders } from './pass-headers.ts';
import { QuietHoursGate } from './quiet-hours.ts';
import { Registry } from 'prom-client';

const POLICY: TenantMessagingPolicy = {
  quietHours: { start: '21:00', end: '08:00' },
  marketingPerDay: null,
  marketingPerWeek: null,
  dedupWindowSeconds: null,
  smartEncoding: false,
  updatedAt: 0,
};
// Saturday 9 March 2030, 22:00 in Los Angeles (PST); clocks go forward at 02:00 on the 10th.
const SATURDAY_NIGHT = Date.parse('2030-03-10T06:00:00Z');
// 08:00 PDT on Sunday the 10th.
const SUNDAY_MORNING = Date.parse('2030-03-10T15:00:00Z');

function quietSetup(t: Parameters<typeof setup>[0], provider: FakeProvider) {
  const registry = new Registry();
  const quietHours = new QuietHoursGate({ get: async () => POLICY }, registry);
  const h = setup(t, [provider], { quietHours, registry });
  h.clock.now = SATURDAY_NIGHT;
  return { ...h, registry };
}

/** Runs a message's passes as the delay topics would bring them back, until one is not a hold. */
async function untilSent(h: Harness, message: MessageRequested) {
  let result: PassResult = await dispatchPass(h, message);
  const hops: number[] = [];
  const held = result.held ? [result.held] : [];
  while (result.followUp?.record.headers?.['pigeon-pass'] === 'held') {
    const pass = passFromHeaders(result.followUp.record.headers, h.clock.now)!;
    hops.push(pass.dueAt);
    h.clock.now = pass.dueAt;
    result = await h.dispatcher.dispatch(message, pass);
    if (result.held) held.push(result.held);
  }
  return { result, hops, held };
}

const counted = async (registry: Registry, result: string) =>
  (await registry.getSingleMetric('pigeon_bridge_quiet_hours_total')!.get()).values.find(
    (v) => v.labels.result === result,
  )?.value ?? 0;

test('a marketing message at 22:00 is held through the night and sent at 08:00 local, DST change and all', async (t) => {
  const provider = new FakeProvider('a');
  const h = quietSetup(t, provider);
  const message = requested({ class: 'marketing', body: 'Spring sale' }, SATURDAY_NIGHT - 1_000);

  const { result, hops, held } = await untilSent(h, message);

  // Hourly hops through the 1 h delay topic; the night is 9 hours of UTC (10 of wall clock, less the skipped hour).
  assert.equal(hops.length, 9);
  assert.ok(hops.every((due, i) => due - (i === 0 ? SATURDAY_NIGHT : hops[i - 1]!) <= 3_600_000));
  assert.equal(hops.at(-1), SUNDAY_MORNING);
  assert.equal(provider.calls, 1);
  assert.equal(asSubmitted(result.outcome).requestedAt, new Date(SUNDAY_MORNING).toISOString());
  // One message.held event for the whole night, naming the release.
  assert.equal(held.length, 1);
  assert.equal(held[0]!.notBefore, new Date(SUNDAY_MORNING).toISOString());
  assert.equal(held[0]!.timeZone, 'America/Los_Angeles');
  assert.equal(await counted(h.registry, 'held'), 1);
  assert.equal(await counted(h.registry, 'released'), 1);
});

test('a retry round that falls in the window is held too, and sent at its end', async (t) => {
  const provider = new FakeProvider('a');
  const h = quietSetup(t, provider);
  const message = requested({ class: 'marketing', body: 'Retry me' }, SATURDAY_NIGHT - 60_000);

  const retry = await h.dispatcher.dispatch(message, {
    kind: 'retry',
    round: 1,
    refusedRounds: 1,
    appendedAt: SATURDAY_NIGHT,
    exclude: [],
    attemptsSoFar: 1,
  });

  assert.equal(retry.followUp?.record.headers?.['pigeon-pass'], 'held');
  assert.equal(retry.held?.notBefore, new Date(SUNDAY_MORNING).toISOString());
  assert.equal(provider.calls, 0);
  h.clock.now = SUNDAY_MORNING;
  const released = await h.dispatcher.dispatch(
    message,
    passFromHeaders(
      { ...retry.followUp.record.headers, 'pigeon-due': String(SUNDAY_MORNING) },
      SATURDAY_NIGHT,
    )!,
  );
  assert.equal(asSubmitted(released.outcome).attempt, 2);
});

test('transactional, otp and alert messages go at once in the quiet window', async (t) => {
  const provider = new FakeProvider('a');
  const h = quietSetup(t, provider);
  for (const messageClass of ['transactional', 'otp', 'alert'] as const) {
    const message = requested({ class: messageClass, body: `Now ${messageClass}` }, SATURDAY_NIGHT - 1_000);
    const result = await dispatchPass(h, message);
    asSubmitted(result.outcome);
    assert.equal(result.held, undefined);
  }
  assert.equal(provider.calls, 3);
  assert.equal(await counted(h.registry, 'held'), 0);
});

test('a marketing message whose ttl ends in the window expires then, never sent late', async (t) => {
  const provider = new FakeProvider('a');
  const h = quietSetup(t, provider);
  const message = requested({ class: 'marketing', body: 'Flash sale', ttlSeconds: 5_400 }, SATURDAY_NIGHT);

  const { result, hops } = await untilSent(h, message);

  assert.deepEqual(hops, [SATURDAY_NIGHT + 3_600_000, SATURDAY_NIGHT + 5_400_000]);
  assert.equal(result.outcome?.type, 'message.failed');
  assert.equal(result.outcome?.type === 'message.failed' && result.outcome.status, 'expired');
  assert.equal(provider.calls, 0);
});
