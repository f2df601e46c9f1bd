import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawOrder, orderCandidates } from './weighted-order.ts';

test('every candidate appears exactly once', () => {
  const order = orderCandidates([
    { name: 'a', weight: 1 },
    { name: 'b', weight: 3 },
    { name: 'c', weight: 0 },
  ]);
  assert.deepEqual([...order].sort(), ['a', 'b', 'c']);
  assert.equal(order[2], 'c');
});

test('first choice follows the weights', () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const firsts = { a: 0, b: 0 };
  for (let i = 0; i < 10_000; i++) {
    const first = orderCandidates(
      [
        { name: 'a', weight: 1 },
        { name: 'b', weight: 3 },
      ],
      random,
    )[0] as 'a' | 'b';
    firsts[first]++;
  }
  assert.ok(Math.abs(firsts.b / 10_000 - 0.75) < 0.03, `b share ${firsts.b / 10_000}`);
});

test('drawOrder orders any items as orderCandidates orders their names, draw for draw', () => {
  const items = [
    { id: 'a', w: 0.3 },
    { id: 'b', w: 0 },
    { id: 'c', w: 2.7 },
    { id: 'd', w: 1 },
  ];
  for (let seed = 1; seed <= 500; seed++) {
    const draws = (s: number) => {
      let state = s;
      return () => {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        return state / 2 ** 31;
      };
    };
    const names = orderCandidates(
      items.map((i) => ({ name: i.id, weight: i.w })),
      draws(seed),
    );
    const ordered = drawOrder(items, (i) => i.w, draws(seed)).map((i) => i.id);
    assert.deepEqual(ordered, names, `seed ${seed}`);
    assert.equal(ordered.at(-1), 'b');
  }
});
