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

/** A counting semaphore: at most `count` holders at once, the rest wait in line. */
export function slots(count: number): () => Promise<() => void> {
  let free = count;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };
  return async () => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    return release;
  };
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

const ignore = () => undefined;

/**
 * Runs tasks one after another per key, in the order they were handed in, and tasks of other keys
 * alongside: what a consumer handling several batches of a partition at once uses to keep one
 * key's records in order across them. A task that fails does not stop the next of its key.
 */
export class KeyedSequence {
  /** Settles once the last task handed in for the key has; gone once nothing of the key is left. */
  readonly #tails = new Map<string, Promise<void>>();

  run<R>(key: string, task: () => Promise<R>): Promise<R> {
    const before = this.#tails.get(key);
    const result = before === undefined ? task() : before.then(task);
    const tail = result.then(ignore, ignore);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.#tails.size;
  }
}
