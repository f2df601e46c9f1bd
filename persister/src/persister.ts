import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Bus, ConsumedBatch, ConsumedRecord, Subscription } from '../../core/bus/bus.ts';
import { PigeonError } from '../../core/errors.ts';
import { decodeEvent, EventDecodeError } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import type { PigeonEvent } from '../../core/message.ts';
import { Backoff, exponentialBackoff, isPermanent, isRetriable } from '../../core/retry.ts';
import type { Store } from '../../core/store/store.ts';
import { SEND_TOPICS, Topics } from '../../core/topics.ts';
import { Batcher, type FlushPart } from './batcher.ts';
import { PersisterEvents } from './events.ts';
import type { OutboxWriter } from './callbacks/outbox-writer.ts';
import { foldEvents, isOrphanReceipt } from './fold.ts';
import { type RetentionHandle, startRetention } from './retention.ts';
import { STORE_OUTAGE_BACKOFF } from './store-backoff.ts';

export const PERSISTER_GROUP = 'pigeon-persister';
export const PERSISTER_TOPICS: readonly string[] = [...SEND_TOPICS, Topics.outcomes, Topics.receipts];

export interface PersisterOptions {
  bus: Bus;
  store: Store;
  logger: Logger;
  registry: Registry;
  /** Consumer group (default `pigeon-persister`). */
  groupId?: string;
  /**
   * Where a group with no committed offsets starts (default true: a new deployment writes the
   * backlog). A test's throwaway group starts at the end, so it does not write every earlier test's
   * events into its fresh database.
   */
  fromBeginning?: boolean;
  /** Topics to record (default PERSISTER_TOPICS) and where refused records go (default sms.dlq). */
  topics?: readonly string[];
  dlqTopic?: string;
  /**
   * Adaptive batching: events per write (1000), longest wait for company (50 ms), or until
   * nothing arrived for quietMs (5 ms), writes in flight (2).
   */
  batch?: { maxRows?: number; maxWaitMs?: number; quietMs?: number; writers?: number };
  /** Partitions handled at once; their records share writes (default 32). */
  concurrentPartitions?: number;
  /** Backoff while the database is unavailable (default STORE_OUTAGE_BACKOFF: 200 ms doubling to 5 s). */
  retry?: { initialMs?: number; maxMs?: number };
  /** Time-based retention; off unless `days` > 0. */
  retention?: { days: number; intervalMs?: number; batchRows?: number };
  /**
   * Runs after a batch is written and before its offsets commit (provider opt-outs go onto the
   * suppression list here). Best effort: a failure is logged and the batch still commits.
   */
  afterWrite?: (events: readonly PigeonEvent[]) => Promise<void>;
  /**
   * Writes the batch's status callbacks to the outbox (callbacks/outbox-writer.ts) after the batch
   * and before its offsets commit. Not best effort: a failure counts as the write's, so it is
   * retried with the batch while the database is away, and data the database refuses is split
   * down to the event, which goes to the DLQ. Every callback is enqueued at least once.
   */
  outbox?: OutboxWriter | undefined;
}

export interface PersisterHandle {
  subscription: Subscription;
  /** False while the database is unreachable or read-only (or refuses writes for a reason we do not know). */
  isDatabaseUp(): boolean;
  /** True while consumption is paused for a database outage. */
  isPaused(): boolean;
  retention: RetentionHandle | undefined;
  close(): Promise<void>;
}

interface Item {
  event: PigeonEvent;
  record: ConsumedRecord;
}

/** A deadlock, a lock wait timeout or a TiDB write conflict: the transaction lost a race. */
const LOCK_CONFLICTS = new Set([1205, 1213, 9007]);

function isLockConflict(err: unknown): boolean {
  const cause = (err as { cause?: { errno?: unknown } } | null)?.cause;
  return typeof cause?.errno === 'number' && LOCK_CONFLICTS.has(cause.errno);
}

/**
 * Writes every event to the store. Records of all the partitions being handled are batched
 * together (batcher.ts) into one transaction with one multi-row upsert per table; a partition's
 * offset is committed only after every transaction holding its records committed.
 *
 * - The database down or read-only: consumption pauses, the write is retried with backoff while
 *   the consumer group is kept alive by heartbeats, nothing is committed, and it resumes when a
 *   write succeeds. `/readyz` and `pigeon_persister_database_up` show it.
 * - The database refusing a value (too long, out of range): the write is split in halves until the
 *   refused event stands alone; it goes to the DLQ with the reason and the rest is written.
 */
export async function startPersister(options: PersisterOptions): Promise<PersisterHandle> {
  const { bus, store, logger, registry } = options;
  const topics = options.topics ?? PERSISTER_TOPICS;
  const dlqTopic = options.dlqTopic ?? Topics.dlq;
  const outageBackoff = exponentialBackoff({ ...options.retry }, STORE_OUTAGE_BACKOFF);
  let databaseUp = true;
  let paused = false;
  let closing = false;
  // Set once subscribed; a write may fail (and want to pause) before that.
  let subscription: Subscription | undefined = undefined;
  /** Batches being handled, with the append time of their oldest record. */
  const inFlight = new Map<ConsumedBatch, number>();

  const written = new Counter({
    name: 'pigeon_persister_events_written_total',
    help: 'Events written to the store',
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: 'pigeon_persister_batch_seconds',
    help: 'Time to write one batch, including retries',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [registry],
  });
  const batchRows = new Histogram({
    name: 'pigeon_persister_batch_rows',
    help: 'Events per database write',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
    registers: [registry],
  });
  const dbUp = new Gauge({
    name: 'pigeon_persister_database_up',
    help: '1 when the last write succeeded, 0 while the database is unavailable',
    registers: [registry],
  });
  const pausedGauge = new Gauge({
    name: 'pigeon_persister_paused',
    help: '1 while consumption is paused for a database outage',
    registers: [registry],
  });
  const failures = new Counter({
    name: 'pigeon_persister_write_failures_total',
    help: 'Writes that failed and were retried: unavailable (down, read-only), lock_conflict or unknown',
    labelNames: ['kind'],
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: 'pigeon_persister_dead_letters_total',
    help: 'Events sent to the dead-letter topic',
    labelNames: ['reason'],
    registers: [registry],
  });
  const orphanReceipts = new Counter({
    name: 'pigeon_persister_orphan_receipts_total',
    help: 'Receipt events without a tenant, dropped unwritten (the receipt matcher never publishes one)',
    registers: [registry],
  });
  const lag = new Gauge({
    name: 'pigeon_persister_consumer_lag',
    help: 'Records not yet written, per partition, as of the last batch fetched from it',
    labelNames: ['topic', 'partition'],
    registers: [registry],
  });
  new Gauge({
    name: 'pigeon_persister_behind_seconds',
    help: 'Age (since broker append) of the oldest record being handled and not yet written; 0 when idle',
    registers: [registry],
    collect() {
      const oldest = Math.min(...inFlight.values());
      this.set(Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0);
    },
  });
  new Gauge({
    name: 'pigeon_persister_pending_events',
    help: 'Events waiting for a database write or in one',
    registers: [registry],
    collect() {
      let pending = 0;
      for (const batch of inFlight.keys()) pending += batch.records.length;
      this.set(pending);
    },
  });
  dbUp.set(1);
  pausedGauge.set(0);

  const markDown = (err: unknown, kind: 'unavailable' | 'unknown') => {
    failures.inc({ kind });
    if (databaseUp) {
      const fields = { err: err instanceof Error ? err.message : String(err), kind };
      if (kind === 'unknown') logger.error(fields, PersisterEvents.writeFailed);
      else logger.warn(fields, PersisterEvents.databaseUnavailable);
    }
    databaseUp = false;
    dbUp.set(0);
    // Fetching more would only queue records in memory that cannot be written either.
    if (!paused && subscription) {
      paused = true;
      pausedGauge.set(1);
      subscription.pause(topics);
    }
  };
  const markUp = () => {
    if (!databaseUp) logger.info(PersisterEvents.databaseRecovered);
    databaseUp = true;
    dbUp.set(1);
    if (paused && subscription) {
      paused = false;
      pausedGauge.set(0);
      subscription.resume(topics);
    }
  };

  const deadLetter = async (record: ConsumedRecord, reason: string, kind: string) => {
    deadLetters.inc({ reason: kind });
    logger.error(
      { topic: record.topic, partition: record.partition, offset: record.offset, reason },
      PersisterEvents.deadLetter,
    );
    await bus.publish(dlqTopic, [
      {
        key: record.key,
        value: record.value,
        headers: { ...record.headers, reason, source: record.topic, kind },
      },
    ]);
  };

  /** Waits `ms` in short steps, heartbeating for every batch still waiting on this write. */
  const wait = async (ms: number, parts: readonly FlushPart<ConsumedBatch>[]) => {
    const until = Date.now() + ms;
    while (!closing) {
      for (const part of parts) {
        if (part.settled) continue;
        if (part.context.isStale()) {
          part.abandon(new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE', 'partition given up while waiting'));
          continue;
        }
        // A failed heartbeat (a rebalance began, or Kafka is away too) means the partition may be
        // someone else's soon: let its handler return, the consumer sees the batch again.
        await part.context.heartbeat().catch((err: unknown) => part.abandon(err));
      }
      const left = until - Date.now();
      if (left <= 0 || parts.every((p) => p.settled)) return;
      await sleep(Math.min(left, 1_000));
    }
  };

  /** Writes items in one transaction, through outages and past refused events; throws only if nobody waits any more. */
  const write = async (items: Item[], parts: readonly FlushPart<ConsumedBatch>[]): Promise<void> => {
    const events = items.map((i) => i.event);
    const batch = foldEvents(events);
    const backoff = new Backoff(outageBackoff);
    let conflicts = 0;
    for (;;) {
      try {
        await store.writeBatch(batch);
        // After the batch, so a status callback finds its message's request when it came with it.
        await options.outbox?.(events);
        markUp();
        if (options.afterWrite) {
          await options
            .afterWrite(events)
            .catch((err: unknown) =>
              logger.warn({ err: (err as Error).message }, PersisterEvents.afterWriteFailed),
            );
        }
        return;
      } catch (err) {
        // The database refused the data itself: writing it again cannot help.
        if (isPermanent(err)) {
          if (items.length === 1) {
            await deadLetter(items[0]!.record, (err as Error).message, 'rejected_by_database');
            return;
          }
          // Halving finds a refused event in log2(n) rounds, and the good rows go in meanwhile.
          const half = Math.ceil(items.length / 2);
          await write(items.slice(0, half), parts);
          await write(items.slice(half), parts);
          return;
        }
        // Two writers (or two persisters) upserting rows of the same messages can deadlock; the
        // database rolled one back, which is no outage: go again at once, a little apart.
        if (isLockConflict(err) && conflicts++ < 5) {
          failures.inc({ kind: 'lock_conflict' });
          await sleep(Math.random() * 50);
          continue;
        }
        // An error we cannot classify is not blamed on the data: dead-lettering on a schema or
        // permission problem would empty the topics into the DLQ. It is retried and alerted on.
        const unavailable = isRetriable(err);
        markDown(err, unavailable ? 'unavailable' : 'unknown');
        if (closing || parts.every((p) => p.settled)) throw err;
        await wait(backoff.next(), parts);
        if (closing || parts.every((p) => p.settled)) throw err;
        conflicts = 0;
      }
    }
  };

  const batcher = new Batcher<Item, ConsumedBatch>({
    maxItems: options.batch?.maxRows ?? 1_000,
    maxWaitMs: options.batch?.maxWaitMs ?? 50,
    // Kafka fetches a partition again only once its batch is written: when batches stop coming,
    // the partitions are all waiting for this write, and 50 ms more would only stall them.
    quietMs: Math.min(options.batch?.quietMs ?? 5, options.batch?.maxWaitMs ?? 50),
    concurrency: options.batch?.writers ?? 2,
    keyOf: (item) => item.event.messageId,
    flush: async (items, parts) => {
      const started = performance.now();
      await write(items, parts);
      written.inc(items.length);
      batchRows.observe(items.length);
      batchSeconds.observe((performance.now() - started) / 1000);
      logger.debug({ events: items.length, partitions: parts.length }, PersisterEvents.batchFlushed);
    },
  });

  const retention =
    options.retention && options.retention.days > 0
      ? startRetention({
          store,
          logger,
          registry,
          days: options.retention.days,
          intervalMs: options.retention.intervalMs,
          batchRows: options.retention.batchRows,
          // A purge competes with catching up; it waits until writes go through again.
          isDatabaseUp: () => databaseUp,
        })
      : undefined;

  const subscribed = await bus.subscribe({
    groupId: options.groupId ?? PERSISTER_GROUP,
    topics,
    fromBeginning: options.fromBeginning ?? true,
    concurrentPartitions: options.concurrentPartitions ?? 32,
    handler: async (batch) => {
      const labels = { topic: batch.topic, partition: String(batch.partition) };
      lag.set(labels, batch.lag + batch.records.length);
      inFlight.set(batch, Math.min(...batch.records.map((r) => r.timestamp)));
      try {
        const items: Item[] = [];
        for (const record of batch.records) {
          let event: PigeonEvent;
          try {
            event = decodeEvent(record.value);
          } catch (err) {
            if (!(err instanceof EventDecodeError)) throw err;
            await deadLetter(record, err.message, 'malformed');
            continue;
          }
          // A second line of defence behind the receipt matcher: no row that belongs to nobody.
          if (isOrphanReceipt(event)) {
            orphanReceipts.inc();
            logger.warn(
              { messageId: event.messageId, topic: record.topic, offset: record.offset },
              PersisterEvents.orphanReceiptDropped,
            );
            continue;
          }
          items.push({ event, record });
        }
        await batcher.add(batch, items);
        lag.set(labels, batch.lag);
      } finally {
        inFlight.delete(batch);
      }
    },
  });
  subscription = subscribed;
  // A write may have failed before subscribe() returned (the handler runs as soon as it joins).
  if (!databaseUp && !paused) {
    paused = true;
    pausedGauge.set(1);
    subscribed.pause(topics);
  }

  return {
    subscription: subscribed,
    isDatabaseUp: () => databaseUp,
    isPaused: () => paused,
    retention,
    close: async () => {
      await retention?.close();
      // In-flight writes finish (and their offsets commit) if the database answers; if it does
      // not, `closing` makes them give up at the next retry and the records are seen again.
      const drained = batcher.drain();
      closing = true;
      await subscribed.close();
      await drained.catch(() => undefined);
    },
  };
}
