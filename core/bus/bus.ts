import { type ExponentialBackoff, exponentialBackoff } from '../retry.ts';

/**
 * The message bus: Kafka in production, an in-process log in embedded mode. Both honour the
 * same contract (test/contract/bus.contract.test.ts):
 * - `publish` resolves only once every record is durably appended (Kafka: acks=all), and rejects
 *   if any was not; records with the same key keep their order.
 * - a subscription delivers batches per partition in order; offsets are committed only after the
 *   handler resolves, so a handler that throws or a process that dies sees the batch again. A
 *   commit never passes a record whose handler has not resolved.
 * - partitions are handled apart: a handler still waiting on one partition does not hold back
 *   another partition's records.
 * - consumers of one group share the partitions; a new member of a group resumes at the commit.
 */

/**
 * Redelivery of a batch whose handler threw: 100 ms doubling to 2 s, without jitter, since each
 * partition waits alone and there is no herd to spread.
 */
export const REDELIVERY_BACKOFF: ExponentialBackoff = {
  kind: 'exponential',
  initialMs: 100,
  factor: 2,
  maxMs: 2_000,
  jitter: 0,
};

/** The redelivery policy of a bus whose `retryBackoffMs` option names its first and last wait. */
export function redeliveryBackoff(option?: { initial: number; max: number }): ExponentialBackoff {
  return exponentialBackoff({ initialMs: option?.initial, maxMs: option?.max }, REDELIVERY_BACKOFF);
}

export interface BusRecord {
  key: string;
  value: string;
  headers?: Record<string, string>;
}

export interface ConsumedRecord extends BusRecord {
  topic: string;
  partition: number;
  offset: string;
  /** Append time in ms since the epoch (Kafka LogAppendTime on our topics). */
  timestamp: number;
}

export interface ConsumedBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  /** Keeps group membership alive during a long handler (e.g. while the database is down). */
  heartbeat(): Promise<void>;
  /** True once the consumer is stopping or lost the partition: the handler should give up quickly. */
  isStale(): boolean;
  /** Records left in this partition after this batch when it was fetched (0 = caught up). */
  readonly lag: number;
}

/**
 * A handler's way to say "the rest is not due yet" (delay topics): the first `processed` records
 * are committed, and the partition is paused and fetched again from the next record at `retryAt`
 * (epoch ms) — without holding a consumer slot or a timer per record while it waits.
 */
export interface BatchDeferral {
  processed: number;
  retryAt: number;
}

export interface SubscribeOptions {
  groupId: string;
  topics: readonly string[];
  /** Start at the earliest offset when the group has no commit yet (default true). */
  fromBeginning?: boolean;
  handler: (batch: ConsumedBatch) => Promise<void | BatchDeferral>;
  /**
   * Most partitions whose handlers run at once (Kafka; default: every partition, as the
   * in-process bus does). A partition over the bound waits for a slot, so keep it at least the
   * number of partitions one member may own unless the handler's resource is the real limit.
   */
  concurrentPartitions?: number;
  /**
   * Most batches of one partition handled at once (Kafka; default 1, and the in-process bus always
   * hands one at a time). Above 1 the handler may get a batch while earlier ones of its partition
   * are still running, so it keeps whatever order it needs itself, and must not defer: a slow
   * record then holds back only the records after it that share its key. Offsets are still
   * committed in order.
   */
  batchesAtOnce?: number;
  /**
   * How the broker answers fetches (Kafka): 'immediate' as soon as one record is there (an idle
   * poll every 500 ms), for the OTP lane; 'batched' (default) once 64 KiB are there or 200 ms passed, which costs the broker
   * far fewer requests under load; 'relaxed' once 512 KiB are there or a second passed, for
   * readers to which a second's delay is nothing: those that only watch (the monitor, every
   * process's follower of the monitor's provider verdicts), and those whose work waits seconds
   * anyway (retry delays, status callbacks, inbound SMS, credential changes). On a 2-core machine
   * the broker spent about a millisecond of CPU per request, idle polls included.
   */
  fetch?: 'immediate' | 'batched' | 'relaxed';
}

/**
 * Where a subscription stands: only `consuming` takes records. `joining` before the first join,
 * `rebalancing` between a rebalance and the next join, `reconnecting` after its consumer crashed
 * and until it is in its group again, `stalled` when joined but no fetch was answered lately (the
 * broker is unreachable or hangs), `closed` once closing.
 */
export type ConsumerState = 'consuming' | 'joining' | 'rebalancing' | 'reconnecting' | 'stalled' | 'closed';

/** One subscription as `/readyz` reports it. */
export interface ConsumerStatus {
  groupId: string;
  topics: readonly string[];
  state: ConsumerState;
}

export interface Subscription {
  pause(topics: readonly string[]): void;
  resume(topics: readonly string[]): void;
  /**
   * True while the subscription is in its consumer group and fetching (Kafka: joined, not
   * rebalancing or crashed, a fetch answered within the last few seconds).
   */
  consuming(): boolean;
  state(): ConsumerState;
  /** Stops fetching, lets the in-flight batch finish (and commit), leaves the group. */
  close(): Promise<void>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  config?: Record<string, string>;
}

export interface Bus {
  readonly kind: 'kafka' | 'memory';
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  publish(topic: string, records: readonly BusRecord[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Resolves true when the bus can take writes now. */
  ping(): Promise<boolean>;
  /** Every open subscription of this bus and its state: a service is ready only if all consume. */
  consumers(): ConsumerStatus[];
  close(): Promise<void>;
}
