import type { ApiService } from '../api/src/service.ts';
import { startApi } from '../api/src/service.ts';
import { startMonitorService } from '../monitor/src/service.ts';
import { startPersisterService } from '../persister/src/service.ts';
import { startSupplierBridge } from '../supplier-bridge/src/service.ts';
import type { Config } from '../core/config.ts';
import { startHeartbeat } from '../core/heartbeat.ts';
import type { Logger } from '../core/logger.ts';
import { createRegistry } from '../core/metrics.ts';
import { createServiceContext, type RunningService, type ServiceContext } from '../core/service-host.ts';

export interface EmbeddedGateway {
  context: ServiceContext;
  api: ApiService;
  close(): Promise<void>;
}

/**
 * The whole gateway in one process: the same service code as the distributed deployment, sharing
 * one bus, store and cache (in-process bus, SQLite and a map unless configured otherwise). `config`
 * is loaded in embedded mode: it generates the keys an operator would otherwise provide, and turns
 * the simulator on unless told otherwise.
 */
export async function startEmbedded(config: Config, logger: Logger): Promise<EmbeddedGateway> {
  const registry = createRegistry('pigeon', { defaultMetrics: true });
  const context = createServiceContext(config, logger, registry);
  const workers: RunningService[] = [];
  try {
    workers.push(await startPersisterService(context));
    workers.push(await startSupplierBridge(context));
    workers.push(await startMonitorService(context));
    const api = await startApi(context);
    const services = ['persister', 'supplier-bridge', 'monitor', 'api'] as const;
    const heartbeats = [...workers, api].map((worker, i) =>
      startHeartbeat({ bus: context.bus(), service: services[i]!, logger, detail: worker.heartbeat }),
    );
    return {
      context,
      api,
      close: async () => {
        context.readiness.markShuttingDown();
        await Promise.all(heartbeats.map((h) => h.stop()));
        await api.close();
        // Drain the bridge before the persister so the last outcomes are written.
        for (const worker of workers.reverse()) await worker.close();
        await context.closeInfrastructure();
      },
    };
  } catch (err) {
    for (const worker of workers.reverse()) await worker.close().catch(() => undefined);
    await context.closeInfrastructure();
    throw err;
  }
}
