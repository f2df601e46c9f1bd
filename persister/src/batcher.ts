/**
 * Adaptive batching across partitions. Partition handlers add their records; a flush takes up to
 * `maxItems` of them from every handler that is waiting, as soon as that many are queued or the
 * oldest has waited `maxWaitMs`, with at most `concurrency` flushes in flight. Under light load a
 * record waits at most `maxWaitMs`; under heavy load the flushes fill up while the writers are
 * busy, so the batch size follows the load without tuning.
 *
 * A handler's promise resolves only once every one of its items was in a flush that resolved, so
 * a consumer that commits its offsets after the promise never commits past an unwritten record.
 */

export interface BatcherOptions<T, C> {
  /** Most items in one flush. */
  maxItems: number;
  /** Longest the oldest queued item waits for company before a flush starts. */
  maxWaitMs: number;
  /**
   * A flush also starts once nothing was added for this long (default: maxWaitMs, i.e. never
   * earlier). Contributors waiting for their flush add nothing more, so when every one of them
   * is waiting, holding the queue for maxWaitMs would only stall them.
   */
  quietMs?: number;
  /** Flushes in flight at once. */
  concurrency: number;
  /** Writes one flush; resolving means every item in it is durable. */
  flush(items: T[], parts: readonly FlushPart<C>[]): Promise<void>;
  /**
   * Items with the same key go in the same flush when they are queued together, whichever
   * contributor brought them (the persister: a message's events, which arrive on three topics).
   */
  keyOf?: (item: T) => string;
  now?: () => number;
}

/** One contributor's share of a flush. */
export interface FlushPart<C> {
  readonly context: C;
  readonly items: number;
  /** True once the contributor's promise is settled (written, failed or abandoned). */
  readonly settled: boolean;
  /**
   * Rejects the contributor's promise now, without waiting for the flush: its consumer lost the
   * partition or is stopping, and will see the records again. The flush may still write them.
   */
  abandon(err: unknown): void;
}

interface Contribution<C> {
  context: C;
  remaining: number;
  settled: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

interface Entry<T, C> {
  item: T;
  slice: Slice<T, C>;
  key: string | undefined;
  taken: boolean;
}

/** What one contributor added, with a cursor past the entries already taken. */
interface Slice<T, C> {
  contribution: Contribution<C>;
  entries: Entry<T, C>[];
  next: number;
  left: number;
  arrivedAt: number;
}

export class Batcher<T, C> {
  readonly #options: BatcherOptions<T, C>;
  readonly #now: () => number;
  readonly #queue: Slice<T, C>[] = [];
  /** Queued entries by key, for keyOf; an entry leaves when taken. */
  readonly #byKey = new Map<string, Entry<T, C>[]>();
  #queued = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #draining = false;
  #pumpScheduled = false;
  #lastAddAt = 0;
  readonly #idle = new Set<() => void>();

  constructor(options: BatcherOptions<T, C>) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Items queued and not yet taken by a flush. */
  get queued(): number {
    return this.#queued;
  }

  /** Flushes in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves once every item has been in a flush that resolved; rejects if one failed. */
  add(context: C, items: T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const contribution: Contribution<C> = {
        context,
        remaining: items.length,
        settled: false,
        resolve,
        reject,
      };
      const slice: Slice<T, C> = {
        contribution,
        entries: [],
        next: 0,
        left: items.length,
        arrivedAt: this.#now(),
      };
      const { keyOf } = this.#options;
      for (const item of items) {
        const entry: Entry<T, C> = { item, slice, key: keyOf?.(item), taken: false };
        slice.entries.push(entry);
        if (entry.key === undefined) continue;
        const same = this.#byKey.get(entry.key);
        if (same) same.push(entry);
        else this.#byKey.set(entry.key, [entry]);
      }
      this.#queue.push(slice);
      this.#queued += items.length;
      this.#lastAddAt = slice.arrivedAt;
      // On the next turn: partitions whose batches arrived together then share the first write.
      if (!this.#pumpScheduled) {
        this.#pumpScheduled = true;
        setImmediate(() => {
          this.#pumpScheduled = false;
          this.#pump();
        });
      }
    });
  }

  /** Flushes whatever is queued without waiting for company, then resolves when nothing is left in flight. */
  async drain(): Promise<void> {
    this.#draining = true;
    this.#pump();
    while (this.#queued > 0 || this.#inFlight > 0) {
      await new Promise<void>((resolve) => this.#idle.add(resolve));
    }
  }

  #pump(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const { maxItems, maxWaitMs, concurrency } = this.#options;
    const quietMs = this.#options.quietMs ?? maxWaitMs;
    this.#dropSettled();
    while (this.#inFlight < concurrency && this.#queued > 0) {
      const now = this.#now();
      const waited = now - this.#queue[0]!.arrivedAt;
      const quiet = now - this.#lastAddAt;
      if (this.#queued < maxItems && waited < maxWaitMs && quiet < quietMs && !this.#draining) {
        this.#timer = setTimeout(() => this.#pump(), Math.min(maxWaitMs - waited, quietMs - quiet));
        // The consumers' sockets keep a running process alive; this timer alone should not.
        this.#timer.unref();
        break;
      }
      this.#run(this.#take(maxItems));
    }
    if (this.#queued === 0 && this.#inFlight === 0) {
      for (const resolve of this.#idle) resolve();
      this.#idle.clear();
    }
  }

  /** Items of a contributor that gave up are not written for it; its consumer sees them again. */
  #dropSettled(): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const slice = this.#queue[i]!;
      if (!slice.contribution.settled) continue;
      this.#queue.splice(i, 1);
      for (const entry of slice.entries) {
        if (entry.taken) continue;
        entry.taken = true;
        this.#forget(entry);
      }
      this.#queued -= slice.left;
      slice.left = 0;
    }
  }

  /**
   * Takes up to `max` items, an equal share from every contributor waiting, each share from the
   * front of its slice, and with each item the queued items of the same key. Partitions advance
   * together, and a message whose request, outcome and receipt are all queued (catching up after
   * an outage) is written once instead of three times — most of a write's cost.
   */
  #take(max: number): Array<{ slice: Slice<T, C>; items: T[] }> {
    const taken = new Map<Slice<T, C>, T[]>();
    let count = 0;
    const take = (entry: Entry<T, C>) => {
      entry.taken = true;
      entry.slice.left--;
      count++;
      const items = taken.get(entry.slice);
      if (items) items.push(entry.item);
      else taken.set(entry.slice, [entry.item]);
    };
    while (count < max && this.#queued - count > 0) {
      const live = this.#queue.filter((slice) => slice.left > 0);
      const share = Math.max(1, Math.floor((max - count) / live.length));
      for (const slice of live) {
        for (let n = 0; n < share && count < max && slice.left > 0; n++) {
          while (slice.entries[slice.next]!.taken) slice.next++;
          const entry = slice.entries[slice.next]!;
          take(entry);
          if (entry.key === undefined) continue;
          const same = this.#byKey.get(entry.key) ?? [];
          for (const sibling of same) if (!sibling.taken && count < max) take(sibling);
          const rest = same.filter((e) => !e.taken);
          if (rest.length > 0) this.#byKey.set(entry.key, rest);
          else this.#byKey.delete(entry.key);
        }
        if (count >= max) break;
      }
    }
    this.#queued -= count;
    for (let i = this.#queue.length - 1; i >= 0; i--)
      if (this.#queue[i]!.left === 0) this.#queue.splice(i, 1);
    return [...taken].map(([slice, items]) => ({ slice, items }));
  }

  #forget(entry: Entry<T, C>): void {
    if (entry.key === undefined) return;
    const same = this.#byKey.get(entry.key);
    if (!same) return;
    const rest = same.filter((e) => e !== entry);
    if (rest.length > 0) this.#byKey.set(entry.key, rest);
    else this.#byKey.delete(entry.key);
  }

  #run(taken: Array<{ slice: Slice<T, C>; items: T[] }>): void {
    if (taken.length === 0) return;
    this.#inFlight++;
    const parts: FlushPart<C>[] = taken.map(({ slice: { contribution }, items }) => ({
      context: contribution.context,
      items: items.length,
      get settled() {
        return contribution.settled;
      },
      abandon: (err: unknown) => fail(contribution, err),
    }));
    const items = taken.flatMap((t) => t.items);
    // Called on the next turn so a flush never runs inside add()'s caller.
    void Promise.resolve()
      .then(() => this.#options.flush(items, parts))
      .then(
        () => {
          for (const { slice, items: done } of taken) {
            slice.contribution.remaining -= done.length;
            if (slice.contribution.remaining === 0) succeed(slice.contribution);
          }
        },
        (err: unknown) => {
          for (const { slice } of taken) fail(slice.contribution, err);
        },
      )
      .finally(() => {
        this.#inFlight--;
        this.#pump();
      });
  }
}

function succeed<C>(contribution: Contribution<C>): void {
  if (contribution.settled) return;
  contribution.settled = true;
  contribution.resolve();
}

function fail<C>(contribution: Contribution<C>, err: unknown): void {
  if (contribution.settled) return;
  contribution.settled = true;
  contribution.reject(err);
}
