/** A provider that can take a message, with its routing weight (≥ 0). */
export interface Candidate {
  name: string;
  weight: number;
}

/**
 * Orders candidates by weighted random choice without replacement: the first is chosen with
 * probability weight/total, the next among the rest, and so on; the tail is the failover order.
 * Zero-weight candidates come last, still available as a last resort.
 */
export function orderCandidates(
  candidates: readonly Candidate[],
  random: () => number = Math.random,
): string[] {
  return drawOrder(candidates, weightOf, random).map(nameOf);
}

const weightOf = (c: Candidate) => c.weight;
const nameOf = (c: Candidate) => c.name;

/**
 * orderCandidates over any items, weighed by `weight`: the same draws in the same order, without
 * copying the items (the route planner orders its own candidate records with it).
 */
export function drawOrder<T>(items: readonly T[], weight: (item: T) => number, random: () => number): T[] {
  const pool: T[] = [];
  const weights: number[] = [];
  for (const item of items) {
    const w = weight(item);
    if (w > 0) {
      pool.push(item);
      weights.push(w);
    }
  }
  const order: T[] = [];
  while (pool.length > 0) {
    // Summed afresh each draw, not decremented: the same float totals, so the same orders.
    let total = 0;
    for (const w of weights) total += w;
    let pick = random() * total;
    let index = pool.length - 1;
    for (let i = 0; i < pool.length; i++) {
      pick -= weights[i]!;
      if (pick < 0) {
        index = i;
        break;
      }
    }
    order.push(pool[index]!);
    pool.splice(index, 1);
    weights.splice(index, 1);
  }
  for (const item of items) if (weight(item) <= 0) order.push(item);
  return order;
}
