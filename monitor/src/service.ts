import { KafkaLagReader, type LagReader, MemoryLagReader } from '../../core/bus/lag.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import type { RunningService, ServiceContext } from '../../core/service-host.ts';
import { alertingSetup } from '../../alerting/config.ts';
import { createNotifier } from './channels/index.ts';
import { startMonitor } from './monitor.ts';
import { LoggingNotifier, type Notifier } from '../../alerting/notifier.ts';

export async function startMonitorService(context: ServiceContext): Promise<RunningService> {
  const { config, logger, registry } = context;
  // Checked before anything connects: a bad rule or channel stops the monitor at start.
  const setup = alertingSetup(config);
  await context.ensureTopics();
  const store = context.store();
  await store.migrate();
  const cache = context.cache();
  const bus = context.bus();
  const channels =
    setup.channels.length > 0 ? createNotifier(config, { logger, registry, cache, store }) : undefined;
  // Without channels, incidents are still kept, listed by the API and logged.
  const notifier: Notifier = channels ?? new LoggingNotifier(logger);
  if (!channels) logger.warn('monitor.no_alert_channels');
  const groupPrefix = config.kafka?.groupPrefix ?? 'pigeon';
  let lagReader: LagReader | undefined;
  if (config.kafka) {
    lagReader = new KafkaLagReader({
      brokers: config.kafka.brokers,
      clientId: config.kafka.clientId,
      groupPrefix,
    });
  } else if (bus instanceof MemoryBus) {
    lagReader = new MemoryLagReader(bus, groupPrefix);
  }
  const monitor = await startMonitor({
    bus,
    logger,
    registry,
    settings: config.monitor,
    setup,
    notifier,
    store,
    baselineStore: store,
    providers: config.providersFile?.providers,
    cache,
    lagReader,
    groupId: context.groupId('monitor'),
  });
  // Ready or not does not depend on it: a monitor warming up still watches and alerts on floors.
  context.readiness.describe('monitor', () => ({ ...monitor.blindness() }));
  return {
    close: async () => {
      await monitor.close();
      await channels?.close();
    },
  };
}
