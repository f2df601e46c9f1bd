/** A partition's next offset to read, as committed for a consumer group. */
export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

/** The subset of a pino logger the committer writes to. */
interface CommitLogger {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface OffsetCommitsOptions {
  /** Longest a handled offset waits before it is committed. */
  intervalMs: number;
  /** Sends one commit request for all the offsets given. */
  commit(offsets: PartitionOffset[]): Promise<void>;
  logger: CommitLogger;
  groupId: string;
}

/**
 * Gathers the offsets partition workers report and commits them together, at most once per
 * interval, in one request for every partition that moved: a commit per batch would cost the
 * broker one request per partition per batch. Commits go one at a time, so an older one can never
 * land after a newer one and move a partition back. A failed commit is kept and tried again with
 * the next; what was handled but not yet committed when the process dies is delivered again,
 * which the contract allows (the bridge's claims and the persister's upserts absorb it).
 */
export class OffsetCommits {
  readonly #options: OffsetCommitsOptions;
  readonly #pending = new Map<string, PartitionOffset>();
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | null = null;

  constructor(options: OffsetCommitsOptions) {
    this.#options = options;
  }

  /** Notes that everything before `offset` was handled; commits it within the interval. */
  record(topic: string, partition: number, offset: string): void {
    this.#pending.set(`${topic}:${partition}`, { topic, partition, offset });
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  /** Drops what waits for a partition that is no longer ours: its new owner commits from now on. */
  forget(topic: string, partition: number): void {
    this.#pending.delete(`${topic}:${partition}`);
  }

  /** Whether an offset of this partition waits to be committed. */
  has(topic: string, partition: number): boolean {
    return this.#pending.has(`${topic}:${partition}`);
  }

  /** Commits everything noted so far; resolves once it was committed or failed (never throws). */
  async flush(): Promise<void> {
    while (this.#inFlight) await this.#inFlight;
    if (this.#pending.size === 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const offsets = [...this.#pending.values()];
    this.#pending.clear();
    this.#inFlight = this.#send(offsets).finally(() => (this.#inFlight = null));
    await this.#inFlight;
  }

  async #send(offsets: PartitionOffset[]): Promise<void> {
    try {
      await this.#options.commit(offsets);
    } catch (err) {
      // Kept unless a later offset was noted meanwhile; the next commit carries it.
      for (const entry of offsets) {
        const key = `${entry.topic}:${entry.partition}`;
        if (!this.#pending.has(key)) this.#pending.set(key, entry);
      }
      this.#options.logger.warn(
        { err, groupId: this.#options.groupId, partitions: offsets.length },
        'kafka offset commit failed; retrying with the next commit',
      );
      if (!this.#timer && this.#pending.size > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          void this.flush();
        }, this.#options.intervalMs);
        this.#timer.unref();
      }
    }
  }

  /** Stops the timer; what is pending stays until the next flush. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
