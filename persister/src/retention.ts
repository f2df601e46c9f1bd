import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../core/logger.ts';
import type { PurgeCounts } from '../../core/store/kinds/messages.ts';
import type { Store } from '../../core/store/store.ts';
import { PersisterEvents } from './events.ts';
import { type PeriodicJob, startPeriodic } from './periodic.ts';

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  store: Store;
  logger: Logger;
  registry: Registry;
  /** Messages created more than this many days ago are deleted with their history and attempts. */
  days: number;
  /** Time between purges (default 10 min); the first comes after a random part of it. */
  intervalMs?: number | undefined;
  /** Rows per table per delete (default 1000). */
  batchRows?: number | undefined;
  /** Pause between deletes, so a long purge leaves the database to the writers (default 50 ms). */
  pauseMs?: number;
  /** Purges wait while this is false. */
  isDatabaseUp?: () => boolean;
  now?: () => number;
}

/** `runOnce`: one whole purge now: deletes in rounds until nothing older than the retention is left. */
export type RetentionHandle = PeriodicJob<PurgeCounts>;

/**
 * Deletes expired messages in small batches on an interval. Several persisters may run it at
 * once: each round deletes the oldest rows still there, so they share the work rather than
 * repeat it, and a round that loses a lock race is simply tried again next time.
 */
export function startRetention(options: RetentionOptions): RetentionHandle {
  const { store, logger } = options;
  const intervalMs = options.intervalMs ?? 600_000;
  const batchRows = options.batchRows ?? 1_000;
  const pauseMs = options.pauseMs ?? 50;
  const now = options.now ?? Date.now;
  const purged = new Counter({
    name: 'pigeon_persister_purged_rows_total',
    help: 'Rows deleted by retention, per table',
    labelNames: ['table'],
    registers: [options.registry],
  });
  const purge = async (isClosed: () => boolean): Promise<PurgeCounts> => {
    const before = now() - options.days * DAY_MS;
    const total: PurgeCounts = { messages: 0, events: 0, attempts: 0 };
    while (!isClosed() && (options.isDatabaseUp?.() ?? true)) {
      const round = await store.purgeMessages(before, batchRows);
      total.messages += round.messages;
      total.events += round.events;
      total.attempts += round.attempts;
      purged.inc({ table: 'messages' }, round.messages);
      purged.inc({ table: 'message_events' }, round.events);
      purged.inc({ table: 'message_attempts' }, round.attempts);
      if (round.messages < batchRows && round.events < batchRows && round.attempts < batchRows) break;
      await sleep(pauseMs);
    }
    if (total.messages + total.events + total.attempts > 0) {
      logger.info({ ...total, before: new Date(before).toISOString() }, PersisterEvents.purged);
    }
    return total;
  };

  return startPeriodic(purge, { intervalMs, logger, failedEvent: PersisterEvents.purgeFailed });
}
