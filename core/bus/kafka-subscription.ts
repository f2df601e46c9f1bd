import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { ExponentialBackoff } from '../retry.ts';
import type { ConsumedRecord, ConsumerState, ConsumerStatus, SubscribeOptions, Subscription } from './bus.ts';
import type { BusLogger } from './kafka-bus.ts';
import { evictMember, MemberEvictionError } from './kafka-member-eviction.ts';
import { slots } from '../concurrency.ts';
import { KAFKA_RETRY } from './kafka-retry.ts';
import { OffsetCommits } from './offset-commits.ts';
import { PartitionWorker } from './partition-worker.ts';

/** How a consumer fetches and keeps its group membership. */
export interface ConsumerSettings {
  /** A member silent this long is dropped and its partitions go to the others. */
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** How long a rebalance waits for every member to rejoin. */
  rebalanceTimeoutMs: number;
  /** Longest a handled offset waits before it is committed. */
  commitIntervalMs: number;
}

/** What a subscription takes from the bus that made it. */
export interface SubscriptionHost {
  readonly logger: BusLogger;
  readonly redeliveryBackoff: ExponentialBackoff;
  readonly consumerSettings: ConsumerSettings;
  /** Where and as whom a crashed consumer's member is removed from its group. */
  readonly brokers: readonly string[];
  readonly clientId: string;
}

/**
 * Fetch shapes. A fetch the broker answers at the first record costs it a request per record or
 * two under light load; one it may hold until 64 KiB are there carries hundreds. Only the OTP lane
 * cannot afford the wait. `maxWaitTimeInMs` bounds an idle long-poll, and also how long a
 * partition resumed after back-pressure waits to be in the next fetch: 500 ms for OTPs, 200 ms
 * (at most that much added latency at light load) for the services that move messages, and 1 s
 * for readers that can wait that long.
 */
const FETCH = {
  // An OTP that arrives ends the poll at once (minBytes 1), so the wait only bounds idle polls and
  // resumed partitions. At 100 ms the high lane polled ten times a second from every bridge, a
  // third of an idle gateway's requests, at about a millisecond of broker CPU each; at 500 ms
  // bench/hol.ts kept OTP accept → submitted p99 at 78–307 ms (with and without a hanging
  // provider) against 136–386 ms before (docs/performance.md, *Idle fetches*).
  immediate: { minBytes: 1, maxWaitTimeInMs: 500 },
  batched: { minBytes: 64 * 1024, maxWaitTimeInMs: 200 },
  // A consumer's fetch loop costs CPU per fetch whatever it brings (the request, the response's
  // partitions, a batch handed to each partition's worker): at light load a 200 ms poll fetches
  // a few records at a time. The monitor's windows span minutes; a second of delay is nothing.
  relaxed: { minBytes: 512 * 1024, maxWaitTimeInMs: 1000 },
} as const;

/**
 * Most bytes one fetch brings per partition (kafkajs' default is 1 MiB). Every partition has a
 * batch running (or `batchesAtOnce`) and one waiting, so this bounds the work a stop waits for and
 * the memory held:
 * at 1 MiB a persister catching up on 30 partitions had 30 MiB of writes to finish at SIGTERM.
 * A record larger than this still comes, alone.
 */
const MAX_BYTES_PER_PARTITION = 256 * 1024;

/**
 * A consumer that has not finished a fetch for this long is not consuming: the broker answers an
 * idle fetch within its max wait (at most 1 s, `relaxed`), and kafkajs' fetch loop hands batches
 * over in microseconds, so only an unreachable or hanging broker keeps it silent this long. Short,
 * so that /readyz says so within seconds of a broker going away.
 */
const FETCH_SILENCE_MS = 5_000;

/**
 * How often a crashed consumer's old member is asked to leave until the coordinator takes it: a
 * refused connection costs nothing, and a restarted broker's coordinator loads the group within
 * seconds, so a short pause bounds what the new member waits beyond that.
 */
const EVICTION_INTERVAL_MS = 200;

function headerValue(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  // Kafka allows repeated header keys; like lastHeader() in the Java client, the last one wins.
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined ? undefined : last.toString();
}

function toConsumed(topic: string, partition: number, message: KafkaMessage): ConsumedRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const text = headerValue(value);
    if (text !== undefined) headers[name] = text;
  }
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString() ?? '',
    value: message.value?.toString() ?? '',
    headers,
    timestamp: Number(message.timestamp),
  };
}

/**
 * One consumer group's subscription. The kafkajs fetch loop only hands each batch to the worker
 * of its topic-partition (core/bus/partition-worker.ts) and fetches on, so one partition's slow
 * handler does not hold back the others that share its broker: kafkajs fetches from a broker
 * again only once every batch of its previous fetch was handled. A worker with a batch waiting
 * has its partition paused until it takes the batch up. Handled offsets are committed together
 * per interval (core/bus/offset-commits.ts). The consumer is recreated when it crashes for good.
 */
export class KafkaSubscription implements Subscription {
  readonly #bus: SubscriptionHost;
  readonly #kafka: Kafka;
  readonly #options: SubscribeOptions;
  readonly #onClosed: () => void;
  /** Topics paused by the caller. */
  readonly #paused = new Set<string>();
  /** Partitions not fetched now: a batch waits in their worker, or a rejoin waits for their commit. */
  readonly #held = new Map<string, Set<number>>();
  readonly #workers = new Map<string, PartitionWorker>();
  readonly #commits: OffsetCommits;
  readonly #acquire: (() => Promise<() => void>) | undefined;
  #consumer: Consumer | null = null;
  /** In the group: joined and not rebalancing, crashed or stopped since. */
  #joined = false;
  /** Why it is not in its group, while it is not. */
  #outside: Exclude<ConsumerState, 'consuming' | 'stalled' | 'closed'> = 'joining';
  /** When kafkajs last finished a fetch (one that found nothing counts). */
  #fetchedAt = 0;
  /** The group's id for this consumer while it is a member. */
  #memberId: string | undefined;
  /** Joins so far: an eviction still running when the next join came has nothing left to do. */
  #joins = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | null = null;

  constructor(bus: SubscriptionHost, kafka: Kafka, options: SubscribeOptions, onClosed: () => void) {
    this.#bus = bus;
    this.#kafka = kafka;
    this.#options = options;
    this.#onClosed = onClosed;
    this.#acquire =
      options.concurrentPartitions !== undefined
        ? slots(Math.max(1, options.concurrentPartitions))
        : undefined;
    this.#commits = new OffsetCommits({
      intervalMs: bus.consumerSettings.commitIntervalMs,
      groupId: options.groupId,
      logger: bus.logger,
      commit: async (offsets) => {
        const consumer = this.#consumer;
        if (!consumer) throw new Error('no consumer to commit with');
        await consumer.commitOffsets(offsets);
      },
    });
  }

  consuming(): boolean {
    return this.state() === 'consuming';
  }

  state(): ConsumerState {
    if (this.#closing) return 'closed';
    if (!this.#joined) return this.#outside;
    return Date.now() - this.#fetchedAt < FETCH_SILENCE_MS ? 'consuming' : 'stalled';
  }

  status(): ConsumerStatus {
    return { groupId: this.#options.groupId, topics: this.#options.topics, state: this.state() };
  }

  /** Resolves once the consumer has joined its group and been given partitions. */
  async start(): Promise<void> {
    const settings = this.#bus.consumerSettings;
    const consumer = this.#kafka.consumer({
      groupId: this.#options.groupId,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: settings.rebalanceTimeoutMs,
      ...FETCH[this.#options.fetch ?? 'batched'],
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
      allowAutoTopicCreation: false,
      // kafkajs gives a consumer 5 retries of its own unless told otherwise: at the client's
      // 0.5 s ceiling only 1.7 s before it crashes and rejoins as a new member.
      retry: { ...KAFKA_RETRY },
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (this.#consumer !== consumer) return;
      this.#joined = true;
      this.#memberId = payload.memberId;
      this.#joins++;
      // The join was answered: the fetches it starts get their full silence allowance.
      this.#fetchedAt = Date.now();
      this.#rejoined(payload.memberAssignment);
    });
    // Handled offsets are committed before the rejoin when the broker still takes them.
    consumer.on(consumer.events.REBALANCING, () => {
      this.#joined = false;
      this.#outside = 'rebalancing';
      void this.#commits.flush();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.#joined = false;
      this.#outside = 'reconnecting';
      // kafkajs comes back as a new member; the old one must not hold up the new one's join.
      const abandoned = this.#memberId;
      this.#memberId = undefined;
      if (abandoned !== undefined) void this.#evict(abandoned);
      // kafkajs restarts a crashed consumer itself, except after errors it deems non-retriable.
      if (!payload.restart && !this.#closing) this.#scheduleRestart(consumer, payload.error);
    });
    consumer.on(consumer.events.FETCH, () => {
      this.#fetchedAt = Date.now();
    });
    consumer.on(consumer.events.STOP, () => {
      this.#joined = false;
      this.#outside = 'reconnecting';
    });
    await consumer.connect();
    await consumer.subscribe({
      topics: [...this.#options.topics],
      fromBeginning: this.#options.fromBeginning ?? true,
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Handing a batch over takes microseconds; the workers give the concurrency.
      partitionsConsumedConcurrently: 1,
      eachBatch: async (payload) => this.#eachBatch(payload),
    });
  }

  /**
   * Asks the coordinator to drop a member this subscription abandoned (core/bus/kafka-member-eviction.ts
   * says why), again and again while no broker answers or the coordinator is not ready, until it
   * is gone, the subscription joined again (a join completes only once every member rejoined or
   * left), or it closes.
   */
  async #evict(memberId: string): Promise<void> {
    const { groupId } = this.#options;
    const joins = this.#joins;
    const settings = this.#bus.consumerSettings;
    while (!this.#closing && this.#joins === joins) {
      try {
        const outcome = await evictMember({
          brokers: this.#bus.brokers,
          clientId: this.#bus.clientId,
          groupId,
          memberId,
          timeoutMs: Math.min(settings.sessionTimeoutMs, 3_000),
        });
        this.#bus.logger.info(
          { groupId, memberId, outcome },
          'kafka consumer: the crashed member left its group',
        );
        return;
      } catch (err) {
        if (!(err instanceof MemberEvictionError && err.retriable)) {
          // It still goes when its session expires; the new member only waits longer.
          this.#bus.logger.warn(
            { err, groupId, memberId },
            'kafka consumer: could not remove the crashed member',
          );
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, EVICTION_INTERVAL_MS).unref());
    }
  }

  #scheduleRestart(consumer: Consumer, error: Error): void {
    this.#bus.logger.error(
      { err: error, groupId: this.#options.groupId },
      'kafka consumer stopped; recreating it in 5 s',
    );
    this.#restartTimer = setTimeout(async () => {
      if (this.#closing) return;
      await consumer.disconnect().catch(() => {});
      try {
        await this.start();
      } catch (err) {
        if (!this.#closing) this.#scheduleRestart(this.#consumer ?? consumer, err as Error);
      }
    }, 5000);
  }

  #eachBatch(payload: EachBatchPayload): void {
    const { batch } = payload;
    const { topic, partition } = batch;
    const last = batch.messages[batch.messages.length - 1];
    if (!last || this.#closing) return;
    const key = `${topic}:${partition}`;
    let worker = this.#workers.get(key);
    if (!worker) {
      worker = this.#newWorker(topic, partition, () => payload.heartbeat());
      this.#workers.set(key, worker);
    }
    // Moves kafkajs' fetch position past the batch, which is now the worker's. Nothing is
    // committed by this: commits carry only what the worker reports handled.
    payload.resolveOffset(last.offset);
    worker.push({
      records: batch.messages.map((message) => toConsumed(topic, partition, message)),
      lag: Number(batch.offsetLag()),
    });
  }

  #newWorker(topic: string, partition: number, heartbeat: () => Promise<void>): PartitionWorker {
    return new PartitionWorker({
      topic,
      partition,
      groupId: this.#options.groupId,
      handler: this.#options.handler,
      redeliveryBackoff: this.#bus.redeliveryBackoff,
      logger: this.#bus.logger,
      acquire: this.#acquire,
      batchesAtOnce: this.#options.batchesAtOnce,
      onHandled: (offset) => this.#commits.record(topic, partition, offset),
      setFetching: (fetching) => this.#hold(topic, partition, !fetching),
      // kafkajs' own fetch loop heartbeats too; a heartbeat refused during a rebalance is no
      // reason to fail the handler (the batch's staleness says what it needs to know).
      heartbeat: () => heartbeat().catch(() => {}),
    });
  }

  #hold(topic: string, partition: number, held: boolean): void {
    let partitions = this.#held.get(topic);
    if (held) {
      if (!partitions) this.#held.set(topic, (partitions = new Set()));
      partitions.add(partition);
    } else {
      partitions?.delete(partition);
    }
    this.#applyFetchState(topic);
  }

  /**
   * Tells kafkajs which partitions of a topic to fetch. The whole state is set each time: kafkajs
   * drops a topic-wide pause when a single partition is paused.
   */
  #applyFetchState(topic: string): void {
    const consumer = this.#consumer;
    if (!consumer) return;
    try {
      if (this.#paused.has(topic)) {
        consumer.pause([{ topic }]);
        return;
      }
      consumer.resume([{ topic }]);
      const held = this.#held.get(topic);
      if (held && held.size > 0) consumer.pause([{ topic, partitions: [...held] }]);
    } catch (err) {
      // Between a crash and the consumer's restart kafkajs has no group to pause in ("Consumer
      // group was not initialized"); the state is applied again when the group is joined.
      this.#bus.logger.debug({ err, topic, groupId: this.#options.groupId }, 'kafka fetch state not applied');
    }
  }

  /**
   * A (re)join starts every partition's fetch at its last commit. Partitions no longer ours are
   * revoked from their workers; those still ours wait, not fetched, until their running handler
   * finished and its offset is committed, so no record handled here is fetched again.
   */
  #rejoined(assignment: Record<string, number[]>): void {
    const assigned = new Set(
      Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}:${p}`)),
    );
    this.#held.clear();
    for (const [key, worker] of this.#workers) {
      const at = key.lastIndexOf(':');
      const topic = key.slice(0, at);
      const partition = Number(key.slice(at + 1));
      if (!assigned.has(key)) {
        this.#workers.delete(key);
        this.#commits.forget(topic, partition);
        void worker.revoke();
        continue;
      }
      if (!worker.busy && !this.#commits.has(topic, partition)) {
        void worker.reset();
        continue;
      }
      let held = this.#held.get(topic);
      if (!held) this.#held.set(topic, (held = new Set()));
      held.add(partition);
      void worker
        .reset()
        .then(() => this.#commits.flush())
        .then(() => {
          if (this.#workers.get(key) === worker) this.#hold(topic, partition, false);
        });
    }
    for (const topic of new Set([...this.#options.topics, ...this.#held.keys()]))
      this.#applyFetchState(topic);
  }

  pause(topics: readonly string[]): void {
    for (const topic of topics) {
      this.#paused.add(topic);
      this.#applyFetchState(topic);
    }
  }

  resume(topics: readonly string[]): void {
    for (const topic of topics) {
      this.#paused.delete(topic);
      this.#applyFetchState(topic);
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#restartTimer);
      try {
        // Stop fetching, let running handlers finish (they see isStale), commit what they did,
        // then leave the group: a commit after leaving would be refused.
        for (const topic of this.#options.topics) this.#paused.add(topic);
        for (const topic of this.#options.topics) this.#applyFetchState(topic);
        await Promise.all([...this.#workers.values()].map((worker) => worker.close()));
        await this.#commits.flush();
        this.#commits.stop();
        await this.#consumer?.disconnect();
      } finally {
        this.#onClosed();
      }
    })();
    return this.#closing;
  }
}
