import type { RunningService, ServiceContext } from '../../core/service-host.ts';
import { startMonitor } from './monitor.ts';

export async function startMonitorService(context: ServiceContext): Promise<RunningService> {
  await context.ensureTopics();
  const subscription = await startMonitor({
    bus: context.bus(),
    logger: context.logger,
    registry: context.registry,
    groupId: context.groupId('monitor'),
  });
  return { close: () => subscription.close() };
}
