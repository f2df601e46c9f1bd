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
  const pool = candidates.filter((c) => c.weight > 0).map((c) => ({ ...c }));
  const order: string[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((sum, c) => sum + c.weight, 0);
    let pick = random() * total;
    let index = pool.length - 1;
    for (let i = 0; i < pool.length; i++) {
      pick -= pool[i]!.weight;
      if (pick < 0) {
        index = i;
        break;
      }
    }
    order.push(pool[index]!.name);
    pool.splice(index, 1);
  }
  for (const c of candidates) if (c.weight <= 0) order.push(c.name);
  return order;
}
