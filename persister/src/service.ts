import type { RunningService, ServiceContext } from '../../core/service-host.ts';
import { startPersister } from './persister.ts';

export async function startPersisterService(context: ServiceContext): Promise<RunningService> {
  await context.store().migrate();
  await context.ensureTopics();
  const persister = await startPersister({
    bus: context.bus(),
    store: context.store(),
    logger: context.logger,
    registry: context.registry,
    groupId: context.groupId('persister'),
  });
  context.readiness.add('database_writes', () => persister.isDatabaseUp());
  return { close: () => persister.close() };
}
