import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { Backoff, type ExponentialBackoff } from '../retry.ts';
import type { BatchDeferral, ConsumedBatch, ConsumedRecord, SubscribeOptions, Subscription } from './bus.ts';
import type { BusLogger } from './kafka-bus.ts';

/** What a subscription takes from the bus that made it. */
export interface SubscriptionHost {
  readonly logger: BusLogger;
  readonly redeliveryBackoff: ExponentialBackoff;
  readonly partitionsConsumedConcurrently: number;
}

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
 * One consumer group's subscription: a kafkajs consumer that hands each batch to the handler,
 * redelivers a failed batch with backoff, pauses partitions whose next record is not due yet,
 * and restarts the consumer when it crashes.
 */
export class KafkaSubscription implements Subscription {
  readonly #bus: SubscriptionHost;
  readonly #kafka: Kafka;
  readonly #options: SubscribeOptions;
  readonly #onClosed: () => void;
  readonly #paused = new Set<string>();
  /** Redelivery backoff per topic-partition that is failing. */
  readonly #backoff = new Map<string, Backoff>();
  /** Resume timers of partitions whose next record is not due yet. */
  readonly #deferred = new Map<string, NodeJS.Timeout>();
  #consumer: Consumer | null = null;
  #restartTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | null = null;

  constructor(bus: SubscriptionHost, kafka: Kafka, options: SubscribeOptions, onClosed: () => void) {
    this.#bus = bus;
    this.#kafka = kafka;
    this.#options = options;
    this.#onClosed = onClosed;
  }

  /** Resolves once the consumer has joined its group and been given partitions. */
  async start(): Promise<void> {
    const consumer = this.#kafka.consumer({
      groupId: this.#options.groupId,
      sessionTimeout: 30_000,
      heartbeatInterval: 3000,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    });
    this.#consumer = consumer;
    // A rejoin builds a new internal consumer group, which forgets paused topics.
    consumer.on(consumer.events.GROUP_JOIN, () => this.#applyPause());
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // kafkajs restarts a crashed consumer itself, except after errors it deems non-retriable.
      if (!payload.restart && !this.#closing) this.#scheduleRestart(consumer, payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({
      topics: [...this.#options.topics],
      fromBeginning: this.#options.fromBeginning ?? true,
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently:
        this.#options.concurrentPartitions ?? this.#bus.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
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

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const heartbeat = () => payload.heartbeat();
    const stale = () => !payload.isRunning() || payload.isStale();
    const { topic, partition } = batch;
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    const consumed: ConsumedBatch = {
      topic,
      partition,
      records: batch.messages.map((message) => toConsumed(topic, partition, message)),
      heartbeat,
      isStale: stale,
      lag: Number(batch.offsetLag()),
    };
    const key = `${topic}:${partition}`;
    let deferral: BatchDeferral | void;
    try {
      deferral = await this.#options.handler(consumed);
    } catch (err) {
      let backoff = this.#backoff.get(key);
      if (!backoff) {
        backoff = new Backoff(this.#bus.redeliveryBackoff);
        this.#backoff.set(key, backoff);
      }
      const wait = backoff.next();
      this.#bus.logger.warn(
        {
          err,
          topic,
          partition,
          offset: batch.firstOffset(),
          groupId: this.#options.groupId,
          retryInMs: wait,
        },
        'bus handler failed; redelivering the batch',
      );
      // Returning without resolving makes kafkajs fetch from the same offset again. Throwing
      // instead would go through its crash/restart path, which rejoins the group and gives up
      // for good on errors it considers non-retriable (TypeError, or anything with retriable=false).
      await this.#sleep(wait, heartbeat, stale);
      return;
    }
    this.#backoff.delete(key);
    const done = deferral ? batch.messages[deferral.processed - 1] : last;
    if (done) {
      payload.resolveOffset(done.offset);
      await payload.commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: (BigInt(done.offset) + 1n).toString() }] }],
      });
    }
    if (deferral && deferral.processed < batch.messages.length)
      this.#deferPartition(topic, partition, deferral.retryAt);
  }

  /**
   * Pauses one partition until `retryAt`. kafkajs fetches a paused-then-resumed partition again
   * from the first unresolved offset, so the records not yet due come back then.
   */
  #deferPartition(topic: string, partition: number, retryAt: number): void {
    const key = `${topic}:${partition}`;
    clearTimeout(this.#deferred.get(key));
    try {
      this.#consumer?.pause([{ topic, partitions: [partition] }]);
    } catch (err) {
      this.#bus.logger.warn({ err, topic, partition }, 'could not pause a kafka partition');
    }
    const timer = setTimeout(
      () => {
        this.#deferred.delete(key);
        if (this.#paused.has(topic) || this.#closing) return;
        try {
          this.#consumer?.resume([{ topic, partitions: [partition] }]);
        } catch (err) {
          this.#bus.logger.warn({ err, topic, partition }, 'could not resume a kafka partition');
        }
      },
      Math.max(0, retryAt - Date.now()),
    );
    timer.unref();
    this.#deferred.set(key, timer);
  }

  /** Waits without losing group membership; returns early when the batch goes stale. */
  async #sleep(ms: number, heartbeat: () => Promise<void>, stale: () => boolean): Promise<void> {
    const until = Date.now() + ms;
    while (!stale()) {
      const left = until - Date.now();
      if (left <= 0) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, 50)));
      await heartbeat();
    }
  }

  #applyPause(): void {
    if (this.#paused.size === 0 || !this.#consumer) return;
    try {
      this.#consumer.pause([...this.#paused].map((topic) => ({ topic })));
    } catch (err) {
      this.#bus.logger.warn({ err }, 'could not pause kafka topics');
    }
  }

  pause(topics: readonly string[]): void {
    for (const topic of topics) this.#paused.add(topic);
    this.#applyPause();
  }

  resume(topics: readonly string[]): void {
    for (const topic of topics) this.#paused.delete(topic);
    try {
      this.#consumer?.resume(topics.map((topic) => ({ topic })));
    } catch (err) {
      this.#bus.logger.warn({ err }, 'could not resume kafka topics');
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#restartTimer);
      for (const timer of this.#deferred.values()) clearTimeout(timer);
      try {
        // Waits for the in-flight batch (and its commit), then leaves the group.
        await this.#consumer?.disconnect();
      } finally {
        this.#onClosed();
      }
    })();
    return this.#closing;
  }
}
