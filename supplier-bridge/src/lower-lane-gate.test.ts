import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LowerLaneGate } from './lower-lane-gate.ts';

function setup(floor = 2) {
  const clock = { now: 1_000_000 };
  const gate = new LowerLaneGate({ now: () => clock.now, activeWindowMs: 2_000, targetDelayMs: 10, floor });
  return { clock, gate };
}

/** Lets promise continuations (a woken waiter's) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('with no high-lane traffic the gate is open, however late the loop runs', async () => {
  const { gate } = setup();
  gate.tick(500);
  const releases = await Promise.all(Array.from({ length: 100 }, () => gate.enter()));
  assert.equal(gate.limit, undefined);
  assert.equal(gate.inFlight, 100);
  for (const release of releases) release();
  assert.equal(gate.inFlight, 0);
});

test('a late loop while OTPs flow halves the limit from what is in flight, down to the floor', async () => {
  const { gate } = setup(3);
  const releases = await Promise.all(Array.from({ length: 40 }, () => gate.enter()));
  gate.highLanePass();
  const limits: Array<number | undefined> = [];
  for (let i = 0; i < 6; i++) {
    gate.tick(50);
    limits.push(gate.limit);
  }
  assert.deepEqual(limits, [20, 10, 5, 3, 3, 3]);
  // 40 in flight, limit 3: new passes wait until enough have finished.
  let started = 0;
  const later = Array.from({ length: 5 }, () => gate.enter().then((release) => (started++, release)));
  await settle();
  assert.equal(started, 0);
  for (const release of releases.slice(0, 37)) release();
  await settle();
  assert.equal(started, 0, '3 still in flight');
  releases[37]!();
  await settle();
  assert.equal(started, 1);
  assert.equal(gate.inFlight, 3);
  for (const release of releases.slice(38)) release();
  await settle();
  assert.equal(started, 3, 'the limit, not the number waiting, sets how many run');
  assert.equal(gate.waiting, 2);
  for (const release of await Promise.all(later.slice(0, 3))) release();
  for (const release of await Promise.all(later.slice(3))) release();
  assert.equal(gate.inFlight, 0);
});

test('an on-time loop raises the limit by one a window; a quiet high lane opens the gate', async () => {
  const { clock, gate } = setup(2);
  gate.highLanePass();
  gate.tick(50);
  assert.equal(gate.limit, 2);
  gate.tick(1);
  gate.tick(2);
  assert.equal(gate.limit, 4);
  clock.now += 2_001;
  gate.tick(1);
  assert.equal(gate.limit, undefined);
});

test('waiters start in arrival order as the limit rises, and a release counts once', async () => {
  const { gate } = setup(1);
  gate.highLanePass();
  gate.tick(50);
  assert.equal(gate.limit, 1);
  const first = await gate.enter();
  const order: number[] = [];
  const waiting = [1, 2, 3].map((n) =>
    gate.enter().then((release) => {
      order.push(n);
      return release;
    }),
  );
  await settle();
  assert.equal(gate.waiting, 3);
  first();
  first();
  await settle();
  assert.deepEqual(order, [1], 'a second call of the same release frees nothing');
  gate.tick(0);
  gate.tick(0);
  await settle();
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(gate.inFlight, 3);
  for (const release of await Promise.all(waiting)) release();
  assert.equal(gate.inFlight, 0);
});

test('a pass arriving when a slot is free does not overtake passes already waiting', async () => {
  const { gate } = setup(1);
  gate.highLanePass();
  gate.tick(50);
  const first = await gate.enter();
  const order: string[] = [];
  const waiter = gate.enter().then((release) => (order.push('waiter'), release));
  first();
  const newcomer = gate.enter().then((release) => (order.push('newcomer'), release));
  (await waiter)();
  (await newcomer)();
  assert.deepEqual(order, ['waiter', 'newcomer']);
});

test('a pass going on after a wait takes the next free slot ahead of new passes, in its own order', async () => {
  const { gate } = setup(1);
  gate.highLanePass();
  gate.tick(50);
  const running = await gate.enter();
  const order: string[] = [];
  const started = (name: string) => (release: () => void) => (order.push(name), release);
  const fresh = gate.enter().then(started('new'));
  const back = [gate.resume().then(started('back 1')), gate.resume().then(started('back 2'))];
  await settle();
  assert.equal(gate.waiting, 3);
  running();
  (await back[0]!)();
  (await back[1]!)();
  (await fresh)();
  assert.deepEqual(order, ['back 1', 'back 2', 'new']);
  assert.equal(gate.inFlight, 0);
});

test('a held gate starts no new pass, whatever the limit, but lets passes go on after a wait', async () => {
  const { gate } = setup(4);
  const waiting = await gate.enter();
  gate.hold(true);
  const order: string[] = [];
  const fresh = gate.enter().then((release) => (order.push('new'), release));
  const back = gate.resume().then((release) => (order.push('back'), release));
  await settle();
  assert.deepEqual(order, ['back'], 'the gate is open (no OTPs flow), yet the new pass waits');
  gate.hold(false);
  await settle();
  assert.deepEqual(order, ['back', 'new']);
  for (const release of [waiting, await back, await fresh]) release();
  assert.equal(gate.inFlight, 0);
});
