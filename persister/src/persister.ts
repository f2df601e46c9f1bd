import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Bus, ConsumedBatch, ConsumedRecord, Subscription } from '../../core/bus/bus.ts';
import { isPigeonError } from '../../core/errors.ts';
import { decodeEvent, EventDecodeError } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import type { PigeonEvent } from '../../core/message.ts';
import type { Store } from '../../core/store/store.ts';
import { SEND_TOPICS, Topics } from '../../core/topics.ts';
import { foldEvents } from './fold.ts';

export const PERSISTER_GROUP = 'pigeon-persister';
export const PERSISTER_TOPICS = [...SEND_TOPICS, Topics.outcomes, Topics.receipts];

export interface PersisterOptions {
  bus: Bus;
  store: Store;
  logger: Logger;
  registry: Registry;
  /** Consumer group (default `pigeon-persister`). */
  groupId?: string;
  /** Backoff while the database is unavailable. */
  retry?: { initialMs?: number; maxMs?: number };
}

export interface PersisterHandle {
  subscription: Subscription;
  /** False while the database is unreachable; exported on /readyz. */
  isDatabaseUp(): boolean;
  close(): Promise<void>;
}

/**
 * Writes every event to the store: one transaction per consumed batch, offsets committed only
 * after it commits. While the database is down the batch is retried with backoff — the consumer
 * holds its position, so nothing is lost — and a row the database rejects goes to the DLQ.
 */
export async function startPersister(options: PersisterOptions): Promise<PersisterHandle> {
  const { bus, store, logger, registry } = options;
  const initialMs = options.retry?.initialMs ?? 200;
  const maxMs = options.retry?.maxMs ?? 5_000;
  let databaseUp = true;

  const rows = new Counter({
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
  const dbUp = new Gauge({
    name: 'pigeon_persister_database_up',
    help: '1 when the last write succeeded, 0 while the database is unavailable',
    registers: [registry],
  });
  const dlq = new Counter({
    name: 'pigeon_persister_dead_letters_total',
    help: 'Events sent to the dead-letter topic',
    labelNames: ['reason'],
    registers: [registry],
  });
  dbUp.set(1);

  const deadLetter = async (record: ConsumedRecord, reason: string, kind: string) => {
    dlq.inc({ reason: kind });
    logger.error({ topic: record.topic, offset: record.offset, reason }, 'persister.dead_letter');
    await bus.publish(Topics.dlq, [
      { key: record.key, value: record.value, headers: { reason, source: record.topic } },
    ]);
  };

  const writeWithRetry = async (events: PigeonEvent[], batch: ConsumedBatch) => {
    let delay = initialMs;
    for (;;) {
      try {
        await store.writeBatch(foldEvents(events));
        if (!databaseUp) logger.info('persister.database_recovered');
        databaseUp = true;
        dbUp.set(1);
        return;
      } catch (err) {
        if (!isPigeonError(err) || err.code !== 'PIGEON_ERR_STORE_UNAVAILABLE') throw err;
        if (databaseUp) logger.warn({ err: err.message }, 'persister.database_unavailable');
        databaseUp = false;
        dbUp.set(0);
        if (batch.isStale()) throw err;
        await sleep(delay);
        delay = Math.min(delay * 2, maxMs);
        await batch.heartbeat().catch(() => undefined);
      }
    }
  };

  const subscription = await bus.subscribe({
    groupId: options.groupId ?? PERSISTER_GROUP,
    topics: PERSISTER_TOPICS,
    handler: async (batch) => {
      const started = performance.now();
      const events: Array<{ event: PigeonEvent; record: ConsumedRecord }> = [];
      for (const record of batch.records) {
        try {
          events.push({ event: decodeEvent(record.value), record });
        } catch (err) {
          if (!(err instanceof EventDecodeError)) throw err;
          await deadLetter(record, err.message, 'malformed');
        }
      }
      if (events.length === 0) return;
      try {
        await writeWithRetry(
          events.map((e) => e.event),
          batch,
        );
      } catch (err) {
        if (isPigeonError(err)) throw err;
        // The database refused the batch's data: write event by event so one bad row goes to
        // the DLQ instead of blocking the partition.
        for (const { event, record } of events) {
          try {
            await writeWithRetry([event], batch);
          } catch (single) {
            if (isPigeonError(single)) throw single;
            await deadLetter(record, (single as Error).message, 'rejected_by_database');
          }
        }
      }
      rows.inc(events.length);
      batchSeconds.observe((performance.now() - started) / 1000);
    },
  });

  return {
    subscription,
    isDatabaseUp: () => databaseUp,
    close: () => subscription.close(),
  };
}
