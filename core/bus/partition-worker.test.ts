import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BatchDeferral, ConsumedBatch, ConsumedRecord } from './bus.ts';
import { PartitionWorker } from './partition-worker.ts';

function records(from: number, count: number): ConsumedRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    topic: 't',
    partition: 0,
    offset: String(from + i),
    key: 'k',
    value: `v${from + i}`,
    timestamp: 0,
  }));
}

/** A worker whose handler is driven by the test: each call waits until the test settles it. */
function harness(batchesAtOnce?: number, retryMs = 1) {
  const calls: Array<{ batch: ConsumedBatch; settle(result?: BatchDeferral | Error): void }> = [];
  const handled: string[] = [];
  const fetching: boolean[] = [];
  const worker = new PartitionWorker({
    topic: 't',
    partition: 0,
    groupId: 'g',
    batchesAtOnce,
    redeliveryBackoff: { kind: 'exponential', initialMs: retryMs, factor: 1, maxMs: retryMs, jitter: 0 },
    logger: { warn() {} },
    onHandled: (offset) => handled.push(offset),
    setFetching: (on) => fetching.push(on),
    heartbeat: async () => {},
    handler: (batch) =>
      new Promise<void | BatchDeferral>((resolve, reject) => {
        calls.push({
          batch,
          settle: (result) => (result instanceof Error ? reject(result) : resolve(result)),
        });
      }),
  });
  const nextCall = async (index: number) => {
    for (let i = 0; i < 200 && calls.length <= index; i++) await new Promise((r) => setTimeout(r, 1));
    return calls[index]!;
  };
  return { worker, calls, handled, fetching, nextCall };
}

test('a batch fetched while one runs stops the fetching until it is taken up', async () => {
  const h = harness();
  h.worker.push({ records: records(0, 2), lag: 0 });
  h.worker.push({ records: records(2, 2), lag: 0 });
  assert.deepEqual(h.fetching, [false]);
  (await h.nextCall(0)).settle();
  const second = await h.nextCall(1);
  assert.deepEqual(h.fetching, [false, true]);
  assert.deepEqual(
    second.batch.records.map((r) => r.offset),
    ['2', '3'],
  );
  second.settle();
  await h.worker.idle();
  assert.deepEqual(h.handled, ['2', '4']);
});

test('an offset is reported only after its batch succeeded; a failed batch comes back whole', async () => {
  const h = harness();
  h.worker.push({ records: records(10, 3), lag: 0 });
  (await h.nextCall(0)).settle(new Error('provider down'));
  const again = await h.nextCall(1);
  assert.deepEqual(h.handled, [], 'nothing reported for a failed batch');
  assert.deepEqual(
    again.batch.records.map((r) => r.offset),
    ['10', '11', '12'],
  );
  again.settle();
  await h.worker.idle();
  assert.deepEqual(h.handled, ['13']);
});

test('a deferred rest is reported up to the prefix and handed back on its own once due', async () => {
  const h = harness();
  h.worker.push({ records: records(0, 4), lag: 0 });
  (await h.nextCall(0)).settle({ processed: 1, retryAt: Date.now() + 5 });
  const rest = await h.nextCall(1);
  assert.deepEqual(h.handled, ['1']);
  assert.deepEqual(
    rest.batch.records.map((r) => r.offset),
    ['1', '2', '3'],
  );
  rest.settle();
  await h.worker.idle();
  assert.deepEqual(h.handled, ['1', '4']);
});

test('records fetched again after being taken are not handed over twice', async () => {
  const h = harness();
  h.worker.push({ records: records(0, 3), lag: 0 });
  h.worker.push({ records: records(1, 4), lag: 0 });
  (await h.nextCall(0)).settle();
  const second = await h.nextCall(1);
  assert.deepEqual(
    second.batch.records.map((r) => r.offset),
    ['3', '4'],
  );
  second.settle();
  await h.worker.idle();
});

test('a revoked worker reports nothing more, and its running handler is told it is stale', async () => {
  const h = harness();
  h.worker.push({ records: records(0, 2), lag: 0 });
  h.worker.push({ records: records(2, 2), lag: 0 });
  const running = await h.nextCall(0);
  const revoked = h.worker.revoke();
  assert.equal(running.batch.isStale(), true);
  running.settle();
  await revoked;
  assert.deepEqual(h.handled, []);
  assert.equal(h.calls.length, 1, 'the waiting batch is not started');
});

test('after a reset, records are taken again from wherever the fetch restarts', async () => {
  const h = harness();
  h.worker.push({ records: records(0, 2), lag: 0 });
  h.worker.push({ records: records(2, 2), lag: 0 });
  const running = await h.nextCall(0);
  const reset = h.worker.reset();
  running.settle();
  await reset;
  assert.deepEqual(h.handled, ['2'], 'the running batch still reports');
  h.worker.push({ records: records(2, 2), lag: 0 });
  (await h.nextCall(1)).settle();
  await h.worker.idle();
  assert.deepEqual(h.handled, ['2', '4']);
});

test('batches handled at once report their offsets in order, a failed one keeping its place', async () => {
  const h = harness(2);
  h.worker.push({ records: records(0, 2), lag: 0 });
  h.worker.push({ records: records(2, 2), lag: 0 });
  h.worker.push({ records: records(4, 2), lag: 0 });
  const [first, second] = [await h.nextCall(0), await h.nextCall(1)];
  assert.deepEqual(h.fetching, [false], 'two run, the third waits and the fetching stops');
  second.settle();
  const third = await h.nextCall(2);
  assert.deepEqual(
    third.batch.records.map((r) => r.offset),
    ['4', '5'],
    'the third takes the place the second left',
  );
  assert.deepEqual(h.fetching, [false, true]);
  assert.deepEqual(h.handled, [], 'nothing reported while the first batch runs');
  first.settle(new Error('provider down'));
  const again = await h.nextCall(3);
  assert.deepEqual(
    again.batch.records.map((r) => r.offset),
    ['0', '1'],
  );
  third.settle();
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(h.handled, [], 'a later batch done does not pass the first, still unhandled');
  again.settle();
  await h.worker.idle();
  assert.deepEqual(h.handled, ['6']);
});

test('a batch given up on at a reset silences the batches after it, whatever they finish', async () => {
  const h = harness(3, 60_000);
  h.worker.push({ records: records(0, 2), lag: 0 });
  h.worker.push({ records: records(2, 2), lag: 0 });
  h.worker.push({ records: records(4, 2), lag: 0 });
  const [first, second, third] = [await h.nextCall(0), await h.nextCall(1), await h.nextCall(2)];
  first.settle();
  await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(h.handled, ['2']);
  // The second fails and waits for its retry when the group is joined again: it is given up.
  second.settle(new Error('cache down'));
  await new Promise((r) => setTimeout(r, 0));
  const reset = h.worker.reset();
  third.settle();
  await reset;
  assert.equal(h.calls.length, 3, 'the failed batch is not handed over again');
  assert.deepEqual(h.handled, ['2'], 'the third finished, but after a batch never handled');
  assert.equal(h.worker.busy, false);
});
