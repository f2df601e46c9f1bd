import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../../core/logger.ts';
import type { Store } from '../../../core/store/store.ts';
import { CallbackWorker, type CallbackWorkerSettings } from './worker.ts';
import { CallbackEvents } from '../events.ts';

export interface CallbacksOptions {
  store: Store;
  logger: Logger;
  registry: Registry;
  settings: CallbackWorkerSettings;
  now?: () => number;
  random?: () => number;
  pollMs?: number;
  /** How often the outbox gauges are refreshed and old finished deliveries purged. */
  housekeepingMs?: number;
}

export interface CallbacksHandle {
  worker: CallbackWorker;
  close(): Promise<void>;
}

const PURGE_BATCH = 1_000;

/**
 * Status callbacks to customers: the persister fills the outbox (outbox-writer.ts), the worker
 * delivers it, and housekeeping exports its depth and age and deletes finished rows once
 * `keepMs` old.
 */
export function startCallbacks(options: CallbacksOptions): CallbacksHandle {
  const { store, logger, registry, settings } = options;
  const now = options.now ?? Date.now;
  const pending = new Gauge({
    name: 'pigeon_callbacks_outbox_pending',
    help: 'Callbacks waiting in the outbox (due or scheduled for a retry)',
    registers: [registry],
  });
  const oldest = new Gauge({
    name: 'pigeon_callbacks_oldest_pending_seconds',
    help: 'Age of the oldest callback still waiting in the outbox',
    registers: [registry],
  });

  const worker = new CallbackWorker({
    store,
    logger,
    registry,
    settings,
    ...(options.now ? { now: options.now } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
  });
  worker.start();

  const housekeeping = async () => {
    const backlog = await store.callbackBacklog();
    pending.set(backlog.pending);
    oldest.set(backlog.oldestCreatedAt === null ? 0 : Math.max(0, (now() - backlog.oldestCreatedAt) / 1000));
    // A batch per round keeps each delete short; a backlog of finished rows shrinks round by round.
    await store.purgeCallbacks(now() - settings.keepMs, PURGE_BATCH);
  };
  const timer = setInterval(() => {
    housekeeping().catch((err: unknown) =>
      logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        CallbackEvents.housekeepingFailed,
      ),
    );
  }, options.housekeepingMs ?? 10_000);
  timer.unref();

  return {
    worker,
    close: async () => {
      clearInterval(timer);
      await worker.close();
    },
  };
}
