/**
 * Forgets the oldest entries of Maps whose insertion order is age order (the monitor's per-message
 * tracking): those past their time, and those over a cap.
 *
 * Not on every insert: entries leave such a Map from the front, and iterating a Map walks over the
 * holes that deletions leave until it is rehashed, so a walk from the front per insert cost a few
 * µs a message with thousands of entries, or ~10 µs once at the cap, where every insert evicted
 * one. A sweep runs at most once per `intervalMs`, or at once when the Map is over its cap; then
 * it goes a tenth below the cap, so the next eviction waits for that many inserts.
 */
export class AgeSweep {
  #nextAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly intervalMs = 1_000) {}

  /**
   * Sweeps `entries` when due: drops from the front each entry `stale` says is past its time, and
   * entries beyond `max`. Returns how many went only because of the cap.
   */
  run<K, V>(entries: Map<K, V>, now: number, max: number, stale: (value: V) => boolean): number {
    if (entries.size <= max && now < this.#nextAt) return 0;
    this.#nextAt = now + this.intervalMs;
    const target = entries.size > max ? max - Math.floor(max / 10) : max;
    let evicted = 0;
    for (const [key, value] of entries) {
      const over = entries.size > target;
      const expired = stale(value);
      if (!over && !expired) break;
      entries.delete(key);
      if (!expired) evicted++;
    }
    return evicted;
  }
}
