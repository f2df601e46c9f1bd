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
  /**
   * Most batches handled at once (default 1: one after the other, in order). Offsets are still
   * reported in order: a batch is reported only once every batch before it was.
   */
  batchesAtOnce?: number;
  /** Told the offset after the last record whose batch the handler finished: the offset to commit. */
  onHandled(nextOffset: string): void;
  /**
   * Told to stop fetching this partition (false) while a batch waits for a free place, and to
   * fetch again (true) once the waiting one is taken up.
   */
  setFetching(fetching: boolean): void;
  /** Keeps the consumer's group membership alive; errors are swallowed by the caller. */
  heartbeat(): Promise<void>;
  /** A slot to run the handler in, when the subscription bounds how many partitions run at once. */
  acquire?: () => Promise<() => void>;
}

/** A batch taken up: handled (retried, its deferred rest waited for) until done or given up. */
interface Running {
  /** The offset after its last record: what is reported once it and every batch before it are done. */
  readonly end: string;
  /** The offset after the part handled so far, while a deferred rest waits. */
  handledTo: string | undefined;
  done: boolean;
  /** Given up after a reset: only its handled part counts. */
  givenUp: boolean;
  /** Taken up after a batch given up on: it reports nothing. */
  silenced: boolean;
}

/**
 * Handles one topic-partition's batches apart from the consumer's fetch loop: the loop hands a
 * batch over and fetches on, so a handler waiting on a slow provider holds back only its own
 * partition. Up to `batchesAtOnce` batches run at once (by default one, in order); at most one
 * more waits for a place, and while it waits the partition is not fetched (back-pressure, bounded
 * memory).
 *
 * The worker reports an offset only once every record before it was handled, so a commit never
 * passes an unhandled record. A batch whose handler throws is handed to the handler again, after
 * a backoff, from its first record; a deferred rest is held and handed back at its `retryAt`. Both
 * keep the batch's place: a batch after it runs meanwhile only when more than one may.
 */
export class PartitionWorker {
  readonly #options: PartitionWorkerOptions;
  readonly #batchesAtOnce: number;
  /**
   * Batches waiting for a place, each handed over as fetched: merging them would let a handler's
   * output (the bridge publishes a record per record handled) outgrow what one produce request
   * may carry.
   */
  #waiting: FetchedBatch[] = [];
  /** The batches taken up and not yet reported, in offset order. */
  #running: Running[] = [];
  /** Handlers running, or waiting to retry or for a deferred rest: the worker is idle at 0. */
  #active = 0;
  /** Offset the next fetched record must have; earlier ones were handed over already. */
  #expected: bigint | null = null;
  /** Counts resets: work begun before one is not carried on after it. */
  #epoch = 0;
  #stale = false;
  #closing = false;
  /** Wake the backoff and deferral waits early when the worker is revoked or reset. */
  readonly #wakes = new Set<() => void>();
  /** Resolves the `idle()` waiters once nothing runs. */
  #idle: { promise: Promise<void>; resolve: () => void } | null = null;
  #pausedFetching = false;

  constructor(options: PartitionWorkerOptions) {
    this.#options = options;
    this.#batchesAtOnce = Math.max(1, options.batchesAtOnce ?? 1);
  }

  /** True while a handler runs, a failed batch waits to be retried, or a deferred rest waits. */
  get busy(): boolean {
    return this.#active > 0;
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
    this.#startWaiting();
    if (this.#waiting.length > 0) this.#setFetching(false);
  }

  /**
   * The group was joined again and this partition is still ours: the fetch position goes back to
   * the last commit, so what waits here will be fetched again and is dropped. Running handlers
   * finish and report as usual; a failed or deferred one is not taken up again. Resolves once
   * nothing runs.
   */
  reset(): Promise<void> {
    this.#waiting = [];
    this.#expected = null;
    this.#epoch++;
    this.#pausedFetching = false;
    for (const wake of [...this.#wakes]) wake();
    return this.idle();
  }

  /** The partition is no longer ours: nothing more is handled or reported. */
  revoke(): Promise<void> {
    this.#stale = true;
    return this.reset();
  }

  /**
   * The consumer is stopping: running handlers are told to give up quickly (isStale) and what
   * they finish is still reported; nothing waiting is started. Resolves once nothing runs.
   */
  close(): Promise<void> {
    this.#closing = true;
    return this.reset();
  }

  /** Resolves once no handler runs. */
  idle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    if (!this.#idle) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#idle = { promise, resolve };
    }
    return this.#idle.promise;
  }

  #setFetching(fetching: boolean): void {
    if (this.#stale || this.#pausedFetching === !fetching) return;
    this.#pausedFetching = !fetching;
    this.#options.setFetching(fetching);
  }

  /** Takes up waiting batches while there is a place for them. */
  #startWaiting(): void {
    let started = false;
    while (this.#active < this.#batchesAtOnce && !this.#stale) {
      const batch = this.#waiting.shift();
      if (!batch) break;
      const last = batch.records[batch.records.length - 1]!;
      const running: Running = {
        end: (BigInt(last.offset) + 1n).toString(),
        handledTo: undefined,
        done: false,
        givenUp: false,
        silenced: false,
      };
      this.#running.push(running);
      this.#active++;
      started = true;
      void this.#handleFully(batch, running, this.#epoch).then(() => this.#finished(running));
    }
    if (started && this.#waiting.length === 0) this.#setFetching(true);
  }

  /** Reports what is handled in order, takes up what waits, and wakes `idle()` once nothing runs. */
  #finished(running: Running): void {
    running.done = true;
    this.#active--;
    this.#report();
    this.#startWaiting();
    if (this.#active === 0 && this.#idle) {
      const { resolve } = this.#idle;
      this.#idle = null;
      resolve();
    }
  }

  /**
   * Reports the offset after the longest handled run from the first batch on. A batch given up on
   * ends the run: the batches taken up before that report nothing, whatever they finish (only a
   * reset or a revoke gives up, and the partition is then fetched again from its commit).
   */
  #report(): void {
    let reported: string | undefined;
    for (let head = this.#running[0]; head?.done; head = this.#running[0]) {
      this.#running.shift();
      if (head.silenced) continue;
      if (head.givenUp) {
        reported = head.handledTo ?? reported;
        for (const later of this.#running) later.silenced = true;
        continue;
      }
      reported = head.end;
    }
    const head = this.#running[0];
    if (head && !head.silenced) reported = head.handledTo ?? reported;
    if (reported !== undefined && !this.#stale) this.#options.onHandled(reported);
  }

  /**
   * Runs the handler on a batch until it is done: again from its first record after a failure
   * (after a backoff), and on a deferred rest once that is due. Gives up, leaving the batch
   * unreported, once the partition is revoked or the worker reset (the batch will be fetched
   * again from the commit); so does every batch after it.
   */
  async #handleFully(batch: FetchedBatch, running: Running, epoch: number): Promise<void> {
    const { topic, partition } = this.#options;
    const backoff = new Backoff(this.#options.redeliveryBackoff);
    let records = batch.records;
    const isStale = () => this.#stale || this.#closing;
    const giveUp = () => void (running.givenUp = true);
    for (;;) {
      const consumed: ConsumedBatch = {
        topic,
        partition,
        records,
        heartbeat: () => this.#options.heartbeat(),
        isStale,
        lag: batch.lag,
      };
      let deferral: BatchDeferral | void;
      const release = this.#options.acquire ? await this.#options.acquire() : undefined;
      try {
        deferral = await this.#options.handler(consumed);
      } catch (err) {
        release?.();
        if (this.#stale || this.#epoch !== epoch) return giveUp();
        const wait = backoff.next();
        this.#options.logger.warn(
          {
            err,
            topic,
            partition,
            offset: records[0]!.offset,
            groupId: this.#options.groupId,
            retryInMs: wait,
          },
          'bus handler failed; redelivering the batch',
        );
        await this.#wait(wait);
        // Reset after a rejoin: the batch will be fetched again from the commit.
        if (this.#stale || this.#epoch !== epoch) return giveUp();
        continue;
      }
      release?.();
      backoff.reset();
      const processed = deferral ? Math.max(0, Math.min(deferral.processed, records.length)) : records.length;
      if (!deferral || processed >= records.length) return;
      const done = records[processed - 1];
      if (done) {
        running.handledTo = (BigInt(done.offset) + 1n).toString();
        this.#report();
      }
      records = records.slice(processed);
      // A deferred rest comes back once due, before whatever was fetched meanwhile.
      await this.#wait(deferral.retryAt - Date.now());
      if (this.#stale || this.#epoch !== epoch) return giveUp();
    }
  }

  /** Waits `ms`, or less when the worker is revoked or reset. */
  async #wait(ms: number): Promise<void> {
    if (ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const wakes = this.#wakes;
      function done() {
        clearTimeout(timer);
        wakes.delete(done);
        resolve();
      }
      wakes.add(done);
    });
  }
}
