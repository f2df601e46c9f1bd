import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Heartbeat } from '../../core/heartbeat.ts';
import { Liveness } from './liveness.ts';

const T0 = 1_767_225_600_000;

function beat(service: string, instance: string, at: number, extra: Partial<Heartbeat> = {}): Heartbeat {
  return {
    schemaVersion: 1,
    type: 'service.heartbeat',
    service,
    instance,
    at: new Date(at).toISOString(),
    startedAt: new Date(T0).toISOString(),
    intervalMs: 10_000,
    ...extra,
  };
}

test('an instance that goes quiet ages and stops counting as live; one that said it stops is forgotten', () => {
  const clock = { now: T0 };
  const live = new Liveness({ now: () => clock.now });
  live.heartbeat(beat('persister', 'p1', T0));
  live.heartbeat(beat('persister', 'p2', T0));
  live.heartbeat(beat('api', 'a1', T0));
  clock.now += 40_000;
  live.heartbeat(beat('persister', 'p2', clock.now));
  live.heartbeat(beat('api', 'a1', clock.now, { stopping: true }));
  assert.deepEqual(
    live.ages().map((a) => [a.instance, a.ageSeconds]),
    [
      ['p1', 40],
      ['p2', 0],
    ],
  );
  assert.deepEqual(live.serviceCounts(), [
    { service: 'persister', instances: 1 },
    { service: 'api', instances: 0 },
  ]);
  clock.now += 16 * 60_000;
  assert.deepEqual(live.ages(), [], 'gone for good after 15 minutes');
  assert.deepEqual(
    live.serviceCounts().map((s) => s.instances),
    [0, 0],
    'services are remembered',
  );
});

test('a replayed older heartbeat does not bring an instance back', () => {
  const clock = { now: T0 };
  const live = new Liveness({ now: () => clock.now });
  live.heartbeat(beat('bridge', 'b1', T0, { stopping: true }));
  live.heartbeat(beat('bridge', 'b2', T0 + 5_000));
  live.heartbeat(beat('bridge', 'b2', T0));
  clock.now += 5_000;
  assert.deepEqual(live.ages(), [{ service: 'bridge', instance: 'b2', ageSeconds: 0 }]);
});

test('breaker states: the worst over live bridges, split into provider and country', () => {
  const clock = { now: T0 };
  const live = new Liveness({ now: () => clock.now });
  live.heartbeat(beat('supplier-bridge', 'b1', T0, { breakers: { 'twilio:*': 0, 'vonage:GB': 2 } }));
  live.heartbeat(beat('supplier-bridge', 'b2', T0, { breakers: { 'twilio:*': 1, 'vonage:GB': 0 } }));
  assert.deepEqual(live.breakers(), [
    { provider: 'twilio', country: '*', state: 1 },
    { provider: 'vonage', country: 'GB', state: 2 },
  ]);
  clock.now += 60_000;
  assert.deepEqual(live.breakers(), [], 'a silent bridge says nothing about breakers');
});
