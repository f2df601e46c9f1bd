/**
 * A memo of a pure function's results with a fixed number of entries, for hot paths that see the
 * same inputs again and again (a tenant's recipients, its sender ids). When full, the entry stored
 * longest ago goes first: insertion order is a Map's own order, so eviction costs no bookkeeping
 * and a hit costs one lookup; a true LRU would pay a delete and a set on every hit to be a little
 * better on traffic that cycles through more inputs than fit.
 */
export class BoundedMemo<K, V> {
  readonly #entries = new Map<K, V>();

  constructor(
    private readonly compute: (key: K) => V,
    readonly maxEntries: number,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    }
  }

  /** The function's result for `key`, computed at most once while the entry stays. */
  get(key: K): V {
    const entries = this.#entries;
    if (entries.has(key)) return entries.get(key) as V;
    const value = this.compute(key);
    if (entries.size >= this.maxEntries) entries.delete(entries.keys().next().value as K);
    entries.set(key, value);
    return value;
  }

  get size(): number {
    return this.#entries.size;
  }
}
