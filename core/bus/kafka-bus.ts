import {
  type Admin,
  Kafka,
  type LogEntry,
  logLevel,
  type Message,
  type Producer,
  type TopicMessages,
} from 'kafkajs';
import { PigeonError } from '../errors.ts';
import { backoffDelay, type ExponentialBackoff, isRetriable, type ScheduleBackoff } from '../retry.ts';
import type { Bus, BusRecord, ConsumerStatus, SubscribeOptions, Subscription, TopicSpec } from './bus.ts';
import { redeliveryBackoff } from './bus.ts';
import { KAFKA_RETRY } from './kafka-retry.ts';
import { KeyPartitioner } from './key-partitioner.ts';
import { type ConsumerSettings, KafkaSubscription } from './kafka-subscription.ts';
import { fixKafkajsIdleLoop } from './kafkajs-idle-loop.ts';

fixKafkajsIdleLoop();

/** The subset of a pino logger the bus writes to. */
export interface BusLogger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface KafkaBusOptions {
  brokers: readonly string[];
  clientId?: string;
  logger?: BusLogger;
  /**
   * Group membership of the consumers: a member silent for `sessionTimeoutMs` (default 6 s, the
   * broker's floor) is dropped and its partitions go to the survivors; heartbeats every
   * `heartbeatIntervalMs` (default 1 s); a rebalance waits `rebalanceTimeoutMs` (default 30 s) for members to rejoin.
   */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** Longest a handled offset waits before it is committed with the others (default 200 ms). */
  commitIntervalMs?: number;
  /** Limits of one produce request; more queued records go in the next one (5,000 / 900 kB). */
  maxBatchRecords?: number;
  maxBatchBytes?: number;
  /**
   * Attempts after the first before a send is given up and its publishes reject (default 8, about
   * 3 s; they are at most 0.5 s apart, see core/bus/kafka-retry.ts).
   */
  sendRetries?: number;
  /** First and last wait before redelivering a batch whose handler threw (default 100 ms → 2 s). */
  retryBackoffMs?: { initial: number; max: number };
  pingTimeoutMs?: number;
  /** How long close() waits for queued publishes before rejecting them (default 10 s). */
  closeTimeoutMs?: number;
  /**
   * Copies of each topic ensureTopics creates, and its min.insync.replicas (which, with acks=all,
   * is how many copies a publish waits for). Absent: the broker's defaults.
   */
  replicationFactor?: number;
  minInsyncReplicas?: number;
}

interface PendingPublish {
  topic: string;
  messages: Message[];
  bytes: number;
  resolve(): void;
  reject(err: Error): void;
}

const SILENT: BusLogger = { error() {}, warn() {}, info() {}, debug() {} };

function kafkaLogCreator(logger: BusLogger) {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, ...extra } = log;
      const fields = { ...extra, kafkaNamespace: namespace };
      // We bound send retries on purpose and replace the producer after a failed send (see #send),
      // so kafkajs' warning about exactly-once with limited retries does not apply.
      // kafkajs logs every error response at ERROR, also the ones it retries away (a coordinator
      // still loading, a topic that already exists); failures that matter reach us as exceptions.
      const benign = namespace === 'Connection' && message.startsWith('Response ');
      if (benign || message.startsWith('Limiting retries for the idempotent producer')) {
        logger.debug(fields, message);
        return;
      }
      if (level === logLevel.ERROR) logger.error(fields, message);
      else if (level === logLevel.WARN) logger.warn(fields, message);
      else if (level === logLevel.INFO) logger.info(fields, message);
      else logger.debug(fields, message);
    };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether kafkajs' error, or one of an aggregate's (createTopics reports per topic), is of `type`. */
function hasErrorType(err: unknown, type: string): boolean {
  const { type: own, errors } = err as { type?: unknown; errors?: unknown };
  if (own === type) return true;
  return Array.isArray(errors) && errors.some((inner) => hasErrorType(inner, type));
}

/** Resolves with the promise, or rejects after `ms`; the promise keeps running either way. */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits between attempts to create topics while a fresh broker elects their leaders: half a
 * second more each time, five times.
 */
const TOPIC_CREATE_BACKOFF: ScheduleBackoff = {
  kind: 'schedule',
  stepsMs: [500, 1_000, 1_500, 2_000, 2_500],
  jitter: 0,
};

/**
 * The production bus over kafkajs. Publishes are micro-batched: kafkajs has no linger setting,
 * so records queue while a produce request is in flight and all go in the next one. Only one
 * request is in flight at a time; a second one could overtake the first on retry and break the
 * per-key order the contract promises.
 */
export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  readonly logger: BusLogger;
  readonly redeliveryBackoff: ExponentialBackoff;
  readonly consumerSettings: ConsumerSettings;
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly #kafka: Kafka;
  readonly #pingKafka: Kafka;
  readonly #maxBatchRecords: number;
  readonly #maxBatchBytes: number;
  readonly #sendRetries: number;
  readonly #pingTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #replicationFactor: number | undefined;
  readonly #minInsyncReplicas: number | undefined;
  readonly #queue: PendingPublish[] = [];
  readonly #subscriptions = new Set<KafkaSubscription>();
  #flushScheduled = false;
  #sending: Promise<void> | null = null;
  #producer: { producer: Producer; ready: Promise<Producer> } | null = null;
  #pingAdmin: { admin: Admin; ready: Promise<Admin> } | null = null;
  #closed = false;

  constructor(options: KafkaBusOptions) {
    this.logger = options.logger ?? SILENT;
    this.redeliveryBackoff = redeliveryBackoff(options.retryBackoffMs);
    this.consumerSettings = Object.freeze({
      sessionTimeoutMs: options.sessionTimeoutMs ?? 6_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 30_000,
      commitIntervalMs: options.commitIntervalMs ?? 200,
    });
    this.brokers = Object.freeze([...options.brokers]);
    this.clientId = options.clientId ?? 'pigeon';
    this.#maxBatchRecords = options.maxBatchRecords ?? 5000;
    // Under the broker's default message.max.bytes (1 MiB), which caps one partition's batch.
    this.#maxBatchBytes = options.maxBatchBytes ?? 900_000;
    this.#sendRetries = options.sendRetries ?? KAFKA_RETRY.retries;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 1500;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.#replicationFactor = options.replicationFactor;
    this.#minInsyncReplicas = options.minInsyncReplicas;
    const common = {
      brokers: [...this.brokers],
      clientId: this.clientId,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(this.logger),
    };
    this.#kafka = new Kafka({
      ...common,
      connectionTimeout: 3000,
      requestTimeout: 15_000,
      // kafkajs' default (300 ms doubling to 30 s) lets a dead broker stall callers for minutes;
      // a short ceiling finds a returning broker sooner (core/bus/kafka-retry.ts).
      retry: { ...KAFKA_RETRY },
    });
    // ping must answer within its timeout, so its client never retries on its own.
    this.#pingKafka = new Kafka({
      ...common,
      connectionTimeout: this.#pingTimeoutMs,
      requestTimeout: this.#pingTimeoutMs,
      retry: { retries: 0 },
    });
  }

  async ensureTopics(requested: readonly TopicSpec[]): Promise<void> {
    if (requested.length === 0) return;
    const topics = requested.map((spec) => this.#withReplication(spec));
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      // A fresh broker electing leaders for many partitions at once can answer "not hosted" for a
      // while after the create; creating again is harmless ("already exists" resolves false).
      for (let attempt = 1; ; attempt++) {
        try {
          await admin.createTopics({
            waitForLeaders: true,
            topics: topics.map((spec) => ({
              topic: spec.name,
              numPartitions: spec.partitions,
              ...(this.#replicationFactor === undefined
                ? {}
                : { replicationFactor: this.#replicationFactor }),
              configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value })),
            })),
          });
          break;
        } catch (err) {
          if (attempt >= 6 || !isRetriable(err)) throw err;
          await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, TOPIC_CREATE_BACKOFF)));
        }
      }
      await this.#alignConfigs(admin, topics);
    } catch (err) {
      if (hasErrorType(err, 'INVALID_REPLICATION_FACTOR')) {
        // More copies asked for than the cluster has brokers: waiting will not fix it.
        throw new PigeonError(
          'PIGEON_ERR_CONFIG',
          `PIGEON_KAFKA_REPLICATION_FACTOR ${this.#replicationFactor} is more than the Kafka brokers available`,
          { cause: err },
        );
      }
      throw new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', `Could not ensure topics: ${errorMessage(err)}`, {
        cause: err,
      });
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** The topic's own config, plus min.insync.replicas when this bus sets one. */
  #withReplication(spec: TopicSpec): TopicSpec {
    if (this.#minInsyncReplicas === undefined) return spec;
    return { ...spec, config: { 'min.insync.replicas': String(this.#minInsyncReplicas), ...spec.config } };
  }

  /**
   * Topics that already existed keep the configs they were created with; bring the ones we
   * manage in line. AlterConfigs replaces a topic's whole dynamic config, so the current dynamic
   * entries are carried over.
   */
  async #alignConfigs(admin: Admin, topics: readonly TopicSpec[]): Promise<void> {
    const withConfig = topics.filter((spec) => Object.keys(spec.config ?? {}).length > 0);
    if (withConfig.length === 0) return;
    const TOPIC = 2;
    const DYNAMIC_TOPIC_CONFIG = 1;
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: withConfig.map((spec) => ({ type: TOPIC, name: spec.name })),
    });
    const changes = [];
    for (const spec of withConfig) {
      const resource = described.resources.find((r) => r.resourceName === spec.name);
      if (!resource) continue;
      const current = new Map(resource.configEntries.map((e) => [e.configName, e]));
      const wanted = Object.entries(spec.config ?? {});
      if (wanted.every(([name, value]) => current.get(name)?.configValue === value)) continue;
      const merged = new Map<string, string>();
      for (const entry of resource.configEntries) {
        if (Number(entry.configSource) === DYNAMIC_TOPIC_CONFIG)
          merged.set(entry.configName, entry.configValue);
      }
      for (const [name, value] of wanted) merged.set(name, value);
      changes.push({
        type: TOPIC,
        name: spec.name,
        configEntries: [...merged].map(([name, value]) => ({ name, value })),
      });
      this.logger.info({ topic: spec.name, config: spec.config }, 'updating topic config');
    }
    if (changes.length > 0) await admin.alterConfigs({ validateOnly: false, resources: changes });
  }

  publish(topic: string, records: readonly BusRecord[]): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', 'The bus is closed'));
    }
    if (records.length === 0) return Promise.resolve();
    // A publish larger than one produce request may carry goes in several, in order (one request
    // is in flight at a time); it resolves once all were acknowledged and rejects if any was not.
    const parts: Array<{ messages: Message[]; bytes: number }> = [];
    let part = { messages: [] as Message[], bytes: 0 };
    for (const record of records) {
      // Bytes, not characters: message bodies in Cyrillic or Arabic take two or three per character.
      // The 70 covers the record's framing.
      let bytes = Buffer.byteLength(record.key) + Buffer.byteLength(record.value) + 70;
      if (record.headers) {
        for (const [name, value] of Object.entries(record.headers)) {
          bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
        }
      }
      if (
        part.messages.length > 0 &&
        (part.messages.length >= this.#maxBatchRecords || part.bytes + bytes > this.#maxBatchBytes)
      ) {
        parts.push(part);
        part = { messages: [], bytes: 0 };
      }
      part.messages.push({ key: record.key, value: record.value, headers: record.headers });
      part.bytes += bytes;
    }
    parts.push(part);
    const sent = parts.map(
      ({ messages, bytes }) =>
        new Promise<void>((resolve, reject) => {
          this.#queue.push({ topic, messages, bytes, resolve, reject });
        }),
    );
    this.#scheduleFlush();
    // One part (every publish of a single message): its own promise, without an aggregate.
    return sent.length === 1 ? sent[0]! : Promise.all(sent).then(() => undefined);
  }

  #scheduleFlush(): void {
    if (this.#sending || this.#flushScheduled) return;
    this.#flushScheduled = true;
    // One macrotask of linger: publishes issued in the same tick share the first request.
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#sending ??= this.#drain().finally(() => {
        this.#sending = null;
        if (this.#queue.length > 0) this.#scheduleFlush();
      });
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      let count = 0;
      let records = 0;
      let bytes = 0;
      for (const pending of this.#queue) {
        if (
          count > 0 &&
          (records + pending.messages.length > this.#maxBatchRecords ||
            bytes + pending.bytes > this.#maxBatchBytes)
        ) {
          break;
        }
        count++;
        records += pending.messages.length;
        bytes += pending.bytes;
      }
      await this.#send(this.#queue.splice(0, count));
    }
  }

  /** Sends one produce request and settles its publishes; never throws. */
  async #send(chunk: PendingPublish[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const pending of chunk) {
      const messages = byTopic.get(pending.topic);
      if (messages) messages.push(...pending.messages);
      else byTopic.set(pending.topic, [...pending.messages]);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    const current = this.#connectProducer();
    try {
      const producer = await current.ready;
      await producer.sendBatch({ topicMessages, acks: -1 });
    } catch (err) {
      // A failed request may still have been written. kafkajs then rewinds its sequence numbers,
      // and reusing them for other records could make the broker drop those as duplicates, so
      // the next send starts over with a fresh producer id.
      this.#dropProducer(current);
      const error = new PigeonError(
        'PIGEON_ERR_BUS_UNAVAILABLE',
        `Kafka did not acknowledge the publish: ${errorMessage(err)}`,
        { cause: err },
      );
      this.logger.warn({ err, publishes: chunk.length, topics: [...byTopic.keys()] }, 'kafka publish failed');
      for (const pending of chunk) pending.reject(error);
      return;
    }
    for (const pending of chunk) pending.resolve();
  }

  #connectProducer(): { producer: Producer; ready: Promise<Producer> } {
    if (this.#producer) return this.#producer;
    const producer = this.#kafka.producer({
      idempotent: true,
      // kafkajs' DefaultPartitioner's placement, without its per-record Long arithmetic.
      createPartitioner: KeyPartitioner,
      allowAutoTopicCreation: false,
      retry: { retries: this.#sendRetries },
    });
    const entry = { producer, ready: producer.connect().then(() => producer) };
    this.#producer = entry;
    entry.ready.catch(() => this.#dropProducer(entry));
    return entry;
  }

  #dropProducer(entry: { producer: Producer }): void {
    if (this.#producer !== entry) return;
    this.#producer = null;
    void withTimeout(entry.producer.disconnect(), 5000, 'producer disconnect').catch(() => {});
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', 'The bus is closed');
    const subscription = new KafkaSubscription(this, this.#kafka, options, () =>
      this.#subscriptions.delete(subscription),
    );
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (err) {
      await subscription.close().catch(() => {});
      throw new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', `Could not subscribe: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    return subscription;
  }

  consumers(): ConsumerStatus[] {
    return [...this.#subscriptions].map((subscription) => subscription.status());
  }

  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    this.#pingAdmin ??= this.#connectPingAdmin();
    const entry = this.#pingAdmin;
    try {
      const admin = await withTimeout(entry.ready, this.#pingTimeoutMs, 'kafka connect');
      const cluster = await withTimeout(admin.describeCluster(), this.#pingTimeoutMs, 'kafka ping');
      return cluster.brokers.length > 0;
    } catch {
      if (this.#pingAdmin === entry) this.#pingAdmin = null;
      void entry.admin.disconnect().catch(() => {});
      return false;
    }
  }

  #connectPingAdmin(): { admin: Admin; ready: Promise<Admin> } {
    const admin = this.#pingKafka.admin();
    const ready = admin.connect().then(() => admin);
    ready.catch(() => {});
    return { admin, ready };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const flushed = (async () => {
      while (this.#sending || this.#flushScheduled) {
        await (this.#sending ?? new Promise<void>((resolve) => setImmediate(resolve)));
      }
    })();
    await withTimeout(flushed, this.#closeTimeoutMs, 'flushing publishes').catch((err: unknown) => {
      this.logger.warn({ err }, 'closing the bus with publishes still pending');
    });
    const abandoned = new PigeonError('PIGEON_ERR_BUS_UNAVAILABLE', 'The bus closed before the publish');
    for (const pending of this.#queue.splice(0)) pending.reject(abandoned);
    const producer = this.#producer;
    this.#producer = null;
    const pingAdmin = this.#pingAdmin;
    this.#pingAdmin = null;
    await Promise.all([
      ...[...this.#subscriptions].map((subscription) => subscription.close()),
      producer && withTimeout(producer.producer.disconnect(), 5000, 'producer disconnect').catch(() => {}),
      pingAdmin && withTimeout(pingAdmin.admin.disconnect(), 5000, 'admin disconnect').catch(() => {}),
    ]);
  }
}
