import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Batcher, type FlushPart } from './batcher.ts';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Flush {
  items: number[];
  parts: readonly FlushPart<string>[];
  done: Deferred;
}

/** A batcher whose flushes wait until the test settles them. */
function harness(options: { maxItems: number; maxWaitMs: number; concurrency: number }) {
  const flushes: Flush[] = [];
  const batcher = new Batcher<number, string>({
    ...options,
    flush: (items, parts) => {
      const done = deferred();
      flushes.push({ items, parts, done });
      return done.promise;
    },
  });
  return { batcher, flushes };
}

/** Lets the batcher's scheduled work and the flushes it starts run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether a promise has settled by the next macrotask. */
async function state(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let result: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => (result = 'resolved'),
    () => (result = 'rejected'),
  );
  await turn();
  return result;
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

test('a full batch is written at once, an equal share from each partition waiting', async () => {
  const { batcher, flushes } = harness({ maxItems: 10, maxWaitMs: 60_000, concurrency: 1 });
  const a = batcher.add('p0', range(0, 4));
  const b = batcher.add('p1', range(100, 20));
  await turn();
  assert.equal(flushes.length, 1, 'full: no waiting for the time bound');
  assert.deepEqual(
    flushes[0]!.items,
    [0, 1, 2, 3, 100, 101, 102, 103, 104, 105],
    'records of two partitions share one write, the small one whole, the rest from the other',
  );
  assert.deepEqual(
    flushes[0]!.parts.map((p) => [p.context, p.items]),
    [
      ['p0', 4],
      ['p1', 6],
    ],
  );
  assert.equal(batcher.queued, 14);
  flushes[0]!.done.resolve();
  assert.equal(await state(a), 'resolved');
  assert.equal(await state(b), 'pending', 'fourteen of its records are not written yet');
});

test('partitions advance together rather than one after another', async () => {
  const { batcher, flushes } = harness({ maxItems: 9, maxWaitMs: 60_000, concurrency: 1 });
  const all = ['lane', 'outcomes', 'receipts'].map((topic, t) => batcher.add(topic, range(t * 100, 30)));
  await turn();
  assert.deepEqual(flushes[0]!.items, [0, 1, 2, 100, 101, 102, 200, 201, 202]);
  for (let i = 0; i < 10; i++) {
    flushes[i]!.done.resolve();
    await turn();
  }
  await Promise.all(all);
  assert.deepEqual(flushes[9]!.items, [27, 28, 29, 127, 128, 129, 227, 228, 229]);
});

test('a partial batch is written once its oldest record waited the time bound', async () => {
  const { batcher, flushes } = harness({ maxItems: 1000, maxWaitMs: 40, concurrency: 1 });
  const started = performance.now();
  const a = batcher.add('p0', [1, 2, 3]);
  await sleep(10);
  const b = batcher.add('p1', [4]);
  while (flushes.length === 0) await sleep(2);
  const waited = performance.now() - started;
  assert.ok(waited >= 35 && waited < 200, `flushed after ${waited} ms`);
  assert.deepEqual(flushes[0]!.items, [1, 2, 3, 4]);
  flushes[0]!.done.resolve();
  await Promise.all([a, b]);
});

test('a partition resolves only when every write holding its records committed', async () => {
  const { batcher, flushes } = harness({ maxItems: 4, maxWaitMs: 0, concurrency: 3 });
  const big = batcher.add('p0', range(0, 10));
  await turn();
  assert.deepEqual(
    flushes.map((f) => f.items.length),
    [4, 4, 2],
  );
  flushes[2]!.done.resolve();
  flushes[0]!.done.resolve();
  assert.equal(await state(big), 'pending');
  flushes[1]!.done.resolve();
  assert.equal(await state(big), 'resolved');
});

test('no more writes are in flight than allowed; the queue grows meanwhile and goes in full batches', async () => {
  const { batcher, flushes } = harness({ maxItems: 5, maxWaitMs: 1000, concurrency: 2 });
  const all = range(0, 8).map((p) => batcher.add(`p${p}`, range(p * 3, 3)));
  await turn();
  assert.equal(flushes.length, 2);
  assert.equal(batcher.inFlight, 2);
  assert.equal(batcher.queued, 14);
  flushes[0]!.done.resolve();
  await turn();
  assert.equal(flushes.length, 3);
  assert.equal(flushes[2]!.items.length, 5, 'a batch that filled while the writers were busy');
  const drained = batcher.drain();
  while (batcher.queued > 0 || batcher.inFlight > 0) {
    for (const f of flushes) f.done.resolve();
    await turn();
  }
  await Promise.all([...all, drained]);
  const written = flushes.flatMap((f) => f.items);
  assert.deepEqual(
    [...written].sort((x, y) => x - y),
    range(0, 24),
    'every record once',
  );
  for (let p = 0; p < 8; p++) {
    const own = written.filter((i) => Math.floor(i / 3) === p);
    assert.deepEqual(own, range(p * 3, 3), `partition ${p} in its order`);
  }
});

test('a failed write rejects every partition in it, and their records left in the queue are dropped', async () => {
  const { batcher, flushes } = harness({ maxItems: 3, maxWaitMs: 20, concurrency: 1 });
  const a = batcher.add('p0', [1, 2]);
  const b = batcher.add('p1', [3, 4, 5]);
  await turn();
  assert.deepEqual(flushes[0]!.items, [1, 2, 3]);
  const c = batcher.add('p2', [6]);
  flushes[0]!.done.reject(new Error('database refused'));
  await assert.rejects(a, /database refused/);
  await assert.rejects(b, /database refused/);
  while (flushes.length < 2) await sleep(2);
  assert.deepEqual(flushes[1]!.items, [6], 'what p0 and p1 still had queued is not written for them');
  flushes[1]!.done.resolve();
  await c;
  assert.equal(batcher.queued, 0);
});

test('a partition abandoned during a write returns at once; the others still wait for the write', async () => {
  const { batcher, flushes } = harness({ maxItems: 2, maxWaitMs: 60_000, concurrency: 1 });
  const a = batcher.add('p0', [1]);
  const b = batcher.add('p1', [2]);
  await turn();
  assert.equal(flushes[0]!.parts.length, 2);
  flushes[0]!.parts[0]!.abandon(new Error('rebalancing'));
  await assert.rejects(a, /rebalancing/);
  assert.equal(flushes[0]!.parts[0]!.settled, true);
  assert.equal(await state(b), 'pending');
  flushes[0]!.done.resolve();
  assert.equal(await state(b), 'resolved');
});

test('drain writes what is queued without waiting for the time bound', async () => {
  const { batcher, flushes } = harness({ maxItems: 1000, maxWaitMs: 60_000, concurrency: 1 });
  const a = batcher.add('p0', [1, 2]);
  const drained = batcher.drain();
  await turn();
  assert.equal(flushes.length, 1);
  assert.equal(await state(drained), 'pending');
  flushes[0]!.done.resolve();
  await a;
  await drained;
});

test('items of one key queued by different partitions go in the same write', async () => {
  const flushes: string[][] = [];
  const batcher = new Batcher<string, string>({
    maxItems: 4,
    maxWaitMs: 60_000,
    concurrency: 1,
    keyOf: (item) => item.slice(1),
    flush: async (items) => {
      flushes.push(items);
    },
  });
  // A message's request (r), outcome (o) and receipt (d) arrive on three partitions, unaligned.
  const all = [
    batcher.add('lane', ['r1', 'r2', 'r3', 'r4']),
    batcher.add('outcomes', ['o3', 'o4', 'o1', 'o2']),
    batcher.add('receipts', ['d4', 'd2', 'd3', 'd1']),
  ];
  await Promise.all(all);
  assert.equal(flushes.length, 3, 'at most maxItems per write');
  for (const flush of flushes) assert.ok(flush.length <= 4);
  const writesOf = (n: string) => flushes.filter((f) => f.some((i) => i.slice(1) === n)).length;
  const spread = ['1', '2', '3', '4'].map(writesOf);
  // Without grouping, each message would be in three writes; a write may only split the last
  // message it has room for.
  assert.ok(
    spread.every((n) => n <= 2),
    `writes per message: ${spread.join(', ')}`,
  );
  assert.ok(spread.filter((n) => n === 1).length >= 2, `writes per message: ${spread.join(', ')}`);
  assert.deepEqual(flushes.flat().sort(), [
    'd1',
    'd2',
    'd3',
    'd4',
    'o1',
    'o2',
    'o3',
    'o4',
    'r1',
    'r2',
    'r3',
    'r4',
  ]);
});

test('a partial batch goes early when nothing more arrives for the quiet time', async () => {
  const flushes: number[][] = [];
  const quick = new Batcher<number, string>({
    maxItems: 1000,
    maxWaitMs: 10_000,
    quietMs: 20,
    concurrency: 1,
    flush: async (items) => {
      flushes.push(items);
    },
  });
  const started = performance.now();
  const a = quick.add('p0', [1]);
  await sleep(10);
  const b = quick.add('p1', [2]);
  await Promise.all([a, b]);
  const waited = performance.now() - started;
  assert.ok(waited >= 25 && waited < 1000, `written after ${waited} ms: 20 ms after the last arrival`);
  assert.deepEqual(flushes, [[1, 2]]);
});
