import type { RunningService, ServiceContext } from '../../core/service-host.ts';
import { startCallbacks } from './callbacks/callbacks.ts';
import { outboxWriter } from './callbacks/outbox-writer.ts';
import { SuppressionList } from '../../core/suppression-cache.ts';
import { PERSISTER_TOPICS, startPersister } from './persister.ts';
import { startReceiptSweep } from './receipt-sweep.ts';
import { providerOptOuts, suppressProviderOptOuts } from './provider-opt-outs.ts';

export async function startPersisterService(context: ServiceContext): Promise<RunningService> {
  const { config } = context;
  await context.store().migrate();
  await context.ensureTopics();
  const settings = config.persister;
  // Status callbacks to customers (persister/src/callbacks/): the persister fills their outbox
  // from the batches it writes, and a worker delivers it.
  const callbacks = config.callbacks.enabled
    ? {
        outbox: outboxWriter({
          store: context.store(),
          registry: context.registry,
          maxAgeMs: config.callbacks.maxAgeMs,
        }),
        delivery: startCallbacks({
          store: context.store(),
          logger: context.logger,
          registry: context.registry,
          settings: config.callbacks,
        }),
      }
    : undefined;
  // Opened on the first provider opt-out, so a persister that never sees one needs no cache.
  let suppressions: SuppressionList | undefined;
  const persister = await startPersister({
    bus: context.bus(),
    store: context.store(),
    logger: context.logger,
    registry: context.registry,
    groupId: context.groupId('persister'),
    batch: { maxRows: settings.batchRows, maxWaitMs: settings.batchWaitMs, writers: settings.writers },
    // Every partition at once by default: their records share the writes, so a partition
    // waiting for the database costs a slot, not throughput.
    concurrentPartitions:
      settings.concurrentPartitions || PERSISTER_TOPICS.length * (config.kafka?.partitions ?? 1),
    retention: {
      days: settings.retentionDays,
      intervalMs: settings.purgeIntervalMs,
      batchRows: settings.purgeBatchRows,
    },
    outbox: callbacks?.outbox,
    afterWrite: async (events) => {
      const refusals = providerOptOuts(events);
      if (refusals.length === 0) return;
      suppressions ??= new SuppressionList(context.store(), context.cache());
      await suppressProviderOptOuts(refusals, context.store(), suppressions);
    },
  });
  // Messages whose receipt never came end `unknown` (persister/src/receipt-sweep.ts).
  const receiptSweep = startReceiptSweep({
    store: context.store(),
    bus: context.bus(),
    logger: context.logger,
    registry: context.registry,
    deadlines: settings.receiptDeadlineMs,
    intervalMs: settings.receiptSweepIntervalMs,
    batchRows: settings.receiptSweepBatch,
    isDatabaseUp: () => persister.isDatabaseUp(),
  });
  context.readiness.add('database_writes', () => persister.isDatabaseUp());
  return {
    close: async () => {
      await callbacks?.delivery.close();
      await receiptSweep.close();
      await persister.close();
    },
  };
}
