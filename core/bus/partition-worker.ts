import { Backoff, type ExponentialBackoff } from '../retry.ts';
import type { BatchDeferral, ConsumedBatch, ConsumedRecord, SubscribeOptions } from './bus.ts';

/** Records of one partition as a fetch brought them, in offset order. */
export interface FetchedBatch {
  records: ConsumedRecord[];
  /** Records left in the partition after the last of these when they were fetched. */
  lag: number;
}

/** The subset of a pino logger a worker writes to. */
interface WarnLogger {
  warn(obj: object, msg?: string): void;
}

export interface PartitionWorkerOptions {
  topic: string;
  partition: number;
  groupId: string;
  handler: SubscribeOptions['handler'];
  redeliveryBackoff: ExponentialBackoff;
  logger: WarnLogger;
  /** Told the offset after the last record whose batch the handler finished: the offset to commit. */
  onHandled(nextOffset: string): void;
  /**
   * Told to stop fetching this partition (false) while a batch waits behind the one being
   * handled, and to fetch again (true) once the waiting one is taken up.
   */
  setFetching(fetching: boolean): void;
  /** Keeps the consumer's group membership alive; errors are swallowed by the caller. */
  heartbeat(): Promise<void>;
  /** A slot to run the handler in, when the subscription bounds how many partitions run at once. */
  acquire?: () => Promise<() => void>;
}

/**
 * Handles one topic-partition's batches in order, one at a time, apart from the consumer's fetch
 * loop: the loop hands a batch over and fetches on, so a handler waiting on a slow provider holds
 * back only its own partition. At most one batch waits behind the running one; while it waits the
 * partition is not fetched (back-pressure, bounded memory).
 *
 * The worker reports an offset only once every record before it was handled, so a commit never
 * passes an unhandled record. A batch whose handler throws is handed to the handler again, after
 * a backoff, from its first record; a deferred rest is held and handed back at its `retryAt`.
 */
export class PartitionWorker {
  readonly #options: PartitionWorkerOptions;
  readonly #backoff: Backoff;
  /**
   * Batches waiting behind the running one, each handed over as fetched: merging them would let
   * a handler's output (the bridge publishes a record per record handled) outgrow what one
   * produce request may carry.
   */
  #waiting: FetchedBatch[] = [];
  /** Offset the next fetched record must have; earlier ones were handed over already. */
  #expected: bigint | null = null;
  /** Counts resets: work begun before one is not carried on after it. */
  #epoch = 0;
  #running: Promise<void> | null = null;
  #stale = false;
  #closing = false;
  /** Wakes a backoff or deferral wait early when the worker is revoked or reset. */
  #wake: (() => void) | null = null;
  #pausedFetching = false;

  constructor(options: PartitionWorkerOptions) {
    this.#options = options;
    this.#backoff = new Backoff(options.redeliveryBackoff);
  }

  /** True while a handler runs, a failed batch waits to be retried, or a deferred rest waits. */
  get busy(): boolean {
    return this.#running !== null;
  }

  get stale(): boolean {
    return this.#stale;
  }

  /** Takes a fetched batch; records before the ones already taken are dropped. */
  push(batch: FetchedBatch): void {
    if (this.#stale || this.#closing) return;
    const records =
      this.#expected === null
        ? batch.records
        : batch.records.filter((record) => BigInt(record.offset) >= this.#expected!);
    const last = records[records.length - 1];
    if (!last) return;
    this.#expected = BigInt(last.offset) + 1n;
    this.#waiting.push({ records, lag: batch.lag });
    if (this.#running) this.#setFetching(false);
    else this.#running = this.#run().finally(() => (this.#running = null));
  }

  /**
   * The group was joined again and this partition is still ours: the fetch position goes back to
   * the last commit, so what waits here will be fetched again and is dropped. The running handler
   * finishes and reports as usual. Resolves once nothing runs.
   */
  reset(): Promise<void> {
    this.#waiting = [];
    this.#expected = null;
    this.#epoch++;
    this.#pausedFetching = false;
    this.#wake?.();
    return this.idle();
  }

  /** The partition is no longer ours: nothing more is handled or reported. */
  revoke(): Promise<void> {
    this.#stale = true;
    return this.reset();
  }

  /**
   * The consumer is stopping: the running handler is told to give up quickly (isStale) and what
   * it finishes is still reported; nothing waiting is started. Resolves once nothing runs.
   */
  close(): Promise<void> {
    this.#closing = true;
    return this.reset();
  }

  /** Resolves once no handler runs. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #setFetching(fetching: boolean): void {
    if (this.#stale || this.#pausedFetching === !fetching) return;
    this.#pausedFetching = !fetching;
    this.#options.setFetching(fetching);
  }

  async #run(): Promise<void> {
    for (;;) {
      const batch = this.#waiting.shift();
      if (!batch || this.#stale) return;
      const epoch = this.#epoch;
      if (this.#waiting.length === 0) this.#setFetching(true);
      const rest = await this.#handle(batch, epoch);
      if (!rest || this.#stale) continue;
      // A deferred rest comes back first once due, before whatever was fetched meanwhile.
      await this.#wait(rest.retryAt - Date.now());
      if (this.#stale || this.#epoch !== epoch) continue;
      this.#waiting.unshift({ records: rest.records, lag: batch.lag });
    }
  }

  /** Runs the handler until it succeeds; returns the records it deferred, if any. */
  async #handle(
    batch: FetchedBatch,
    epoch: number,
  ): Promise<{ records: ConsumedRecord[]; retryAt: number } | undefined> {
    const { topic, partition } = this.#options;
    const consumed: ConsumedBatch = {
      topic,
      partition,
      records: batch.records,
      heartbeat: () => this.#options.heartbeat(),
      isStale: () => this.#stale || this.#closing,
      lag: batch.lag,
    };
    for (;;) {
      let deferral: BatchDeferral | void;
      const release = this.#options.acquire ? await this.#options.acquire() : undefined;
      try {
        deferral = await this.#options.handler(consumed);
      } catch (err) {
        release?.();
        if (this.#stale || this.#epoch !== epoch) return undefined;
        const wait = this.#backoff.next();
        this.#options.logger.warn(
          {
            err,
            topic,
            partition,
            offset: batch.records[0]!.offset,
            groupId: this.#options.groupId,
            retryInMs: wait,
          },
          'bus handler failed; redelivering the batch',
        );
        await this.#wait(wait);
        // Reset after a rejoin: the batch will be fetched again from the commit.
        if (this.#stale || this.#epoch !== epoch) return undefined;
        continue;
      }
      release?.();
      this.#backoff.reset();
      const processed = deferral
        ? Math.max(0, Math.min(deferral.processed, batch.records.length))
        : batch.records.length;
      const done = batch.records[processed - 1];
      if (done && !this.#stale) this.#options.onHandled((BigInt(done.offset) + 1n).toString());
      if (!deferral || processed >= batch.records.length) return undefined;
      return { records: batch.records.slice(processed), retryAt: deferral.retryAt };
    }
  }

  /** Waits `ms`, or less when the worker is revoked or reset. */
  async #wait(ms: number): Promise<void> {
    if (ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = null;
  }
}
