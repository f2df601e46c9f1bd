import { PigeonError } from '../errors.ts';
import { fnv1a } from '../hash.ts';
import { Backoff, type ExponentialBackoff } from '../retry.ts';
import type {
  BatchDeferral,
  Bus,
  BusRecord,
  ConsumedBatch,
  ConsumedRecord,
  ConsumerState,
  ConsumerStatus,
  SubscribeOptions,
  Subscription,
  TopicSpec,
} from './bus.ts';
import { redeliveryBackoff } from './bus.ts';

/** The subset of a pino logger the bus writes to. */
interface WarnLogger {
  warn(obj: object, msg?: string): void;
}

export interface MemoryBusOptions {
  /** Partitions of a topic that `ensureTopics` was not asked about explicitly (default 1). */
  defaultPartitions?: number;
  /** Most records handed to one handler call (default 500). */
  maxBatchSize?: number;
  /** First and last wait before redelivering a batch whose handler threw (default 100 ms → 2 s). */
  retryBackoffMs?: { initial: number; max: number };
  logger?: WarnLogger;
}

interface StoredRecord {
  key: string;
  value: string;
  headers: Record<string, string>;
  timestamp: number;
}

class PartitionLog {
  /** Offset of records[0]; grows as committed records are dropped. */
  base = 0;
  records: StoredRecord[] = [];

  get end(): number {
    return this.base + this.records.length;
  }

  /** Drops everything below `offset`, copying only when enough has piled up to be worth it. */
  trimTo(offset: number): void {
    const drop = Math.min(offset, this.end) - this.base;
    if (drop <= 0 || (drop < 1024 && drop < this.records.length)) return;
    this.records = this.records.slice(drop);
    this.base += drop;
  }
}

interface TopicLog {
  partitions: PartitionLog[];
  /** Groups that ever consumed the topic: records below all of their commits can go. */
  groups: Set<GroupState>;
  subscriptions: Set<MemorySubscription>;
}

interface GroupState {
  id: string;
  /** topic → next offset to consume, per partition. */
  committed: Map<string, Map<number, number>>;
  member: MemorySubscription | null;
}

/** Wakes every current waiter at once; a waiter registered later waits for the next notify. */
class Signal {
  #waiters: Array<() => void> = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * The bus of embedded mode: an in-process log per topic with the Kafka contract of `Bus`
 * (per-key order, commit after handler success, redelivery on failure, resume at the commit).
 * Nothing survives the process, which is the point of embedded mode, not a defect.
 */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  readonly #topics = new Map<string, TopicLog>();
  readonly #groups = new Map<string, GroupState>();
  readonly #defaultPartitions: number;
  readonly maxBatchSize: number;
  readonly redeliveryBackoff: ExponentialBackoff;
  readonly logger: WarnLogger | undefined;
  #closed = false;

  constructor(options: MemoryBusOptions = {}) {
    this.#defaultPartitions = options.defaultPartitions ?? 1;
    this.maxBatchSize = options.maxBatchSize ?? 500;
    this.redeliveryBackoff = redeliveryBackoff(options.retryBackoffMs);
    this.logger = options.logger;
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    for (const spec of topics) {
      const partitions = Math.max(1, spec.partitions || this.#defaultPartitions);
      const existing = this.#topics.get(spec.name);
      if (!existing) {
        this.#topics.set(spec.name, {
          partitions: Array.from({ length: partitions }, () => new PartitionLog()),
          groups: new Set(),
          subscriptions: new Set(),
        });
        continue;
      }
      // Like Kafka, partitions can be added but never removed.
      while (existing.partitions.length < partitions) existing.partitions.push(new PartitionLog());
    }
  }

  async publish(topic: string, records: readonly BusRecord[]): Promise<void> {
    if (this.#closed) throw new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', 'The bus is closed');
    const log = this.#topic(topic);
    const timestamp = Date.now();
    const count = log.partitions.length;
    for (const record of records) {
      // Kafka's default partitioner uses murmur2; any stable hash keeps one key on one partition.
      const partition = log.partitions[fnv1a(record.key) % count]!;
      partition.records.push({
        key: record.key,
        value: record.value,
        headers: { ...record.headers },
        timestamp,
      });
    }
    for (const subscription of log.subscriptions) subscription.wake();
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', 'The bus is closed');
    const logs = options.topics.map((topic) => this.#topic(topic));
    let group = this.#groups.get(options.groupId);
    if (!group) {
      group = { id: options.groupId, committed: new Map(), member: null };
      this.#groups.set(options.groupId, group);
    }
    if (group.member) {
      throw new PigeonError(
        'PIGEON_ERR_INTERNAL',
        `The memory bus allows one member per consumer group; ${options.groupId} already has one`,
      );
    }
    for (const log of logs) log.groups.add(group);
    const subscription = new MemorySubscription(this, group, options, logs);
    group.member = subscription;
    subscription.start();
    return subscription;
  }

  async ping(): Promise<boolean> {
    return !this.#closed;
  }

  consumers(): ConsumerStatus[] {
    return [...this.#groups.values()].flatMap((group) => {
      const member = group.member;
      return member ? [{ groupId: group.id, topics: member.topics, state: member.state() }] : [];
    });
  }

  /** Records each consumer group has still to read, per topic: what Kafka's committed offsets tell. */
  consumerLag(): Array<{ group: string; topic: string; lag: number }> {
    const result: Array<{ group: string; topic: string; lag: number }> = [];
    for (const [topic, log] of this.#topics) {
      for (const group of log.groups) {
        const committed = group.committed.get(topic);
        let lag = 0;
        log.partitions.forEach((partition, i) => {
          lag += Math.max(0, partition.end - (committed?.get(i) ?? partition.end));
        });
        result.push({ group: group.id, topic, lag });
      }
    }
    return result;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const members = [...this.#groups.values()].flatMap((group) => (group.member ? [group.member] : []));
    await Promise.all(members.map((member) => member.close()));
  }

  #topic(name: string): TopicLog {
    const log = this.#topics.get(name);
    // Kafka does not create topics on demand either; an unknown topic is a setup mistake.
    if (!log) throw new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', `Unknown topic ${name}`);
    return log;
  }

  /** @internal Drops records every group that ever read the topic has committed past. */
  trim(log: TopicLog, topic: string, partition: number): void {
    let min = Number.POSITIVE_INFINITY;
    for (const group of log.groups) {
      const committed = group.committed.get(topic)?.get(partition);
      if (committed === undefined) return;
      min = Math.min(min, committed);
    }
    if (Number.isFinite(min)) log.partitions[partition]!.trimTo(min);
  }
}

class MemorySubscription implements Subscription {
  readonly #bus: MemoryBus;
  readonly #group: GroupState;
  readonly #options: SubscribeOptions;
  readonly #logs: TopicLog[];
  readonly #paused = new Set<string>();
  readonly #signal = new Signal();
  #loops: Promise<void>[] = [];
  #closed = false;
  #closing: Promise<void> | null = null;
  #onClosed: () => void = () => {};
  readonly #closedPromise = new Promise<void>((resolve) => {
    this.#onClosed = resolve;
  });

  constructor(bus: MemoryBus, group: GroupState, options: SubscribeOptions, logs: TopicLog[]) {
    this.#bus = bus;
    this.#group = group;
    this.#options = options;
    this.#logs = logs;
  }

  start(): void {
    this.#options.topics.forEach((topic, i) => {
      const log = this.#logs[i]!;
      log.subscriptions.add(this);
      let committed = this.#group.committed.get(topic);
      if (!committed) {
        committed = new Map();
        this.#group.committed.set(topic, committed);
      }
      for (let partition = 0; partition < log.partitions.length; partition++) {
        const part = log.partitions[partition]!;
        let start = committed.get(partition);
        if (start === undefined) {
          start = this.#options.fromBeginning === false ? part.end : part.base;
          // Recorded at once so that trimming is not held back by a group that has not consumed yet.
          committed.set(partition, start);
        }
        this.#loops.push(this.#deliver(topic, partition, log, committed, start));
      }
    });
  }

  wake(): void {
    this.#signal.notify();
  }

  get topics(): readonly string[] {
    return this.#options.topics;
  }

  consuming(): boolean {
    return !this.#closed;
  }

  state(): ConsumerState {
    return this.#closed ? 'closed' : 'consuming';
  }

  pause(topics: readonly string[]): void {
    for (const topic of topics) this.#paused.add(topic);
  }

  resume(topics: readonly string[]): void {
    for (const topic of topics) this.#paused.delete(topic);
    this.#signal.notify();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#onClosed();
    this.#signal.notify();
    await Promise.all(this.#loops);
    for (const log of this.#logs) log.subscriptions.delete(this);
    if (this.#group.member === this) this.#group.member = null;
  }

  async #deliver(
    topic: string,
    partition: number,
    log: TopicLog,
    committed: Map<number, number>,
    start: number,
  ): Promise<void> {
    let position = start;
    const backoff = new Backoff(this.#bus.redeliveryBackoff);
    while (!this.#closed) {
      const part = log.partitions[partition]!;
      // Only reachable if the log was trimmed by another group's commit below our position's base.
      if (position < part.base) position = part.base;
      if (this.#paused.has(topic) || position >= part.end) {
        await this.#signal.wait();
        continue;
      }
      const from = position - part.base;
      const slice = part.records.slice(from, from + this.#bus.maxBatchSize);
      const records: ConsumedRecord[] = slice.map((stored, i) => ({
        topic,
        partition,
        offset: String(position + i),
        key: stored.key,
        value: stored.value,
        headers: { ...stored.headers },
        timestamp: stored.timestamp,
      }));
      const batch: ConsumedBatch = {
        topic,
        partition,
        records,
        heartbeat: async () => {},
        isStale: () => this.#closed,
        lag: part.end - position - records.length,
      };
      let deferral: BatchDeferral | void;
      try {
        deferral = await this.#options.handler(batch);
      } catch (err) {
        const wait = backoff.next();
        this.#bus.logger?.warn(
          { err, topic, partition, offset: position, groupId: this.#group.id, retryInMs: wait },
          'bus handler failed; redelivering the batch',
        );
        await this.#sleep(wait);
        continue;
      }
      backoff.reset();
      position += deferral ? deferral.processed : records.length;
      committed.set(partition, position);
      this.#bus.trim(log, topic, partition);
      if (deferral && deferral.processed < records.length)
        await this.#sleep(Math.max(0, deferral.retryAt - Date.now()));
    }
  }

  /** Sleeps, but returns at once when the subscription closes. */
  async #sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await Promise.race([timeout, this.#closedPromise]);
    clearTimeout(timer);
  }
}
