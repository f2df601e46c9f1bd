import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgeSweep } from './age-sweep.ts';

const aged = (...ats: number[]) => new Map(ats.map((at, i) => [`m${i}`, { at }]));

test('drops stale entries from the front, at most once per interval', () => {
  const sweep = new AgeSweep(1_000);
  const entries = aged(1, 2, 3, 50, 4);
  const stale = (e: { at: number }) => e.at < 10;
  assert.equal(sweep.run(entries, 0, 100, stale), 0);
  assert.deepEqual([...entries.keys()], ['m3', 'm4'], 'stops at the first young entry: age order is assumed');
  entries.set('m5', { at: 1 });
  sweep.run(entries, 999, 100, stale);
  assert.equal(entries.size, 3, 'not due yet');
  const dropped = [...entries.keys()];
  sweep.run(entries, 1_000, 100, () => true);
  assert.deepEqual([...entries.keys()], [], `due again: ${dropped.join()} went`);
});

test('over the cap it sweeps at once and goes a tenth below it, counting what the cap alone took', () => {
  const sweep = new AgeSweep(60_000);
  sweep.run(new Map(), 0, 10, () => false);
  const entries = aged(...Array.from({ length: 11 }, (_, i) => 100 + i));
  entries.set('old', { at: 0 });
  const evicted = sweep.run(entries, 1, 10, (e) => e.at < 100);
  assert.equal(entries.size, 9, 'down to nine of ten');
  assert.equal(evicted, 3, 'none of them stale: the cap took them (the stale one at the back stays)');
  assert.equal(
    sweep.run(entries, 2, 10, () => true),
    0,
    'under the cap and not due: untouched',
  );
  assert.equal(entries.size, 9);
});

test('a cap of two keeps two', () => {
  const sweep = new AgeSweep();
  const entries = aged(5, 6, 7);
  assert.equal(
    sweep.run(entries, 0, 2, () => false),
    1,
  );
  assert.deepEqual([...entries.keys()], ['m1', 'm2']);
});
