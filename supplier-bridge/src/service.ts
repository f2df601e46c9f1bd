import type { RunningService, ServiceContext } from '../../core/service-host.ts';
import { createProviders } from '../providers/registry.ts';
import { startBridge } from './bridge.ts';
import { Dispatcher } from './dispatcher.ts';

export async function startSupplierBridge(context: ServiceContext): Promise<RunningService> {
  const { config, logger, registry } = context;
  await context.ensureTopics();
  const providers = createProviders({ config, cache: context.cache(), logger });
  const dispatcher = new Dispatcher({
    providers,
    cache: context.cache(),
    logger,
    registry,
    publicUrl: config.publicUrl,
  });
  const subscription = await startBridge({
    bus: context.bus(),
    dispatcher,
    logger,
    registry,
    concurrency: config.bridge.concurrency,
    groupId: context.groupId('bridge'),
  });
  return {
    close: async () => {
      await subscription.close();
      await dispatcher.close();
    },
  };
}
