/**
 * Runs `worker` over `items` with at most `limit` in flight. After the first error it starts no
 * more, and rejects with that error once every started worker has settled.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  worker: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        results[index] = await worker(items[index]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  });
  // Settles only once no worker runs: a caller that retries the items on failure (a bridge
  // replaying its batch) must never find one of them still in flight from this call.
  await Promise.all(runners);
  if (failure) throw failure.error;
  return results;
}

/** Groups items by key, keeping their order inside each group. */
export function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return [...groups.values()];
}
