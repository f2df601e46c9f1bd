import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import type { Bus } from '../../core/bus/bus.ts';
import type { Logger } from '../../core/logger.ts';
import type { MessageClass } from '../../core/message.ts';
import type { OverdueCursor } from '../../core/store/kinds/messages.ts';
import type { Store } from '../../core/store/store.ts';
import { Topics } from '../../core/topics.ts';
import { PersisterEvents } from './events.ts';
import { type PeriodicJob, startPeriodic } from './periodic.ts';
import { overdueCutoffs, receiptDeadlineEvent } from './receipt-deadline.ts';

export interface ReceiptSweepOptions {
  store: Store;
  bus: Bus;
  logger: Logger;
  registry: Registry;
  /** Per class, how long a submitted message waits for its receipt; 0 = forever. */
  deadlines: Readonly<Record<MessageClass, number>>;
  /** Where the deadline events go (default sms.outcomes, which the persister folds). */
  topic?: string;
  /** Time between sweeps (default 5 min); the first comes after a random part of it. */
  intervalMs?: number | undefined;
  /** Messages per query and per publish (default 500). */
  batchRows?: number | undefined;
  /** Pause between batches, so a large backlog leaves the database to the writers (default 50 ms). */
  pauseMs?: number;
  /** Sweeps wait while this is false. */
  isDatabaseUp?: () => boolean;
  now?: () => number;
}

/** `runOnce`: one whole sweep now; resolves with the number of messages it ended. */
export type ReceiptSweepHandle = PeriodicJob<number>;

/**
 * Ends the messages whose receipt never came: every overdue `submitted` message becomes a
 * `message.failed` (status `unknown`, reason `receipt_deadline`) on sms.outcomes, which this
 * persister's own consumer then folds like the bridge's outcomes. Going through the topic rather
 * than writing the store keeps one path for every status change: the history row, the status
 * callback (the outbox writer reads the same topic) and the monitor's counts all follow from the
 * one event, and a receipt arriving meanwhile is ordered by the status machine as usual.
 *
 * Several persisters may sweep at once. Each reads batches along an index in (submitted_at, id)
 * order and pages on with a cursor, so a sweep never reads the same rows twice even before its
 * events are folded; two sweeps that overlap publish events with the same id
 * (receipt-deadline.ts), which the history and the outbox keep once.
 */
export function startReceiptSweep(options: ReceiptSweepOptions): ReceiptSweepHandle {
  const { store, bus, logger } = options;
  const intervalMs = options.intervalMs ?? 300_000;
  const batchRows = options.batchRows ?? 500;
  const pauseMs = options.pauseMs ?? 50;
  const now = options.now ?? Date.now;
  const ended = new Counter({
    name: 'pigeon_persister_receipt_deadline_total',
    help: 'Submitted messages ended unknown because no receipt came within their class deadline, per class',
    labelNames: ['class'],
    registers: [options.registry],
  });
  const sweep = async (isClosed: () => boolean): Promise<number> => {
    const at = now();
    let total = 0;
    for (const cutoff of overdueCutoffs(options.deadlines, at)) {
      let cursor: OverdueCursor | undefined;
      let count = 0;
      while (!isClosed() && (options.isDatabaseUp?.() ?? true)) {
        const overdue = await store.overdueReceipts({
          messageClass: cutoff.messageClass,
          submittedBefore: cutoff.submittedBefore,
          limit: batchRows,
          cursor,
        });
        if (overdue.length === 0) break;
        const events = overdue.map((message) => receiptDeadlineEvent(message, cutoff.deadlineMs, at));
        await bus.publish(
          options.topic ?? Topics.outcomes,
          events.map((event) => ({ key: event.messageId, value: JSON.stringify(event) })),
        );
        ended.inc({ class: cutoff.messageClass }, overdue.length);
        count += overdue.length;
        const last = overdue.at(-1)!;
        cursor = { submittedAt: last.submittedAt, id: last.id };
        if (overdue.length < batchRows) break;
        await sleep(pauseMs);
      }
      if (count > 0) {
        logger.info(
          { class: cutoff.messageClass, messages: count, deadlineHours: cutoff.deadlineMs / 3_600_000 },
          PersisterEvents.receiptDeadlinePassed,
        );
      }
      total += count;
    }
    return total;
  };

  return startPeriodic(sweep, { intervalMs, logger, failedEvent: PersisterEvents.receiptSweepFailed });
}
