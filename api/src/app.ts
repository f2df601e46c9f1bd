import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { Bus } from '../../core/bus/bus.ts';
import type { Cache } from '../../core/cache/cache.ts';
import type { Readiness } from '../../core/health.ts';
import type { Logger } from '../../core/logger.ts';
import { registerOpsRoutes } from '../../core/ops-routes.ts';
import type { Store } from '../../core/store/store.ts';
import type { ProviderAdapter } from '../../supplier-bridge/providers/provider.ts';
import { ApiKeyAuthenticator } from './api-keys.ts';
import { registerProblemHandlers } from './problem.ts';
import { MessagePublisher } from './publisher.ts';
import { messageRoutes } from './routes/messages.ts';
import { receiptRoutes } from './routes/receipts.ts';
import { simulatorRoutes } from './routes/simulator.ts';

export interface ApiDeps {
  logger: Logger;
  bus: Bus;
  store: Store;
  cache: Cache;
  registry: Registry;
  readiness: Readiness;
  /** Adapters whose receipt webhooks this API serves. */
  providers: ReadonlyMap<string, ProviderAdapter>;
  publishTimeoutMs: number;
  simulatorEnabled: boolean;
  trustProxyHops?: number;
}

/** Builds the API server: public REST API, receipt webhooks, OpenAPI at /docs, health and metrics. */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  // Typed as Fastify's logger so the instance type is the plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance,
    // One log line per request costs more than the request itself at 10k/s; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // X-Forwarded-For is believed for exactly the configured number of proxy hops.
    trustProxy: (_address: string, hop: number) => hop < (deps.trustProxyHops ?? 0),
    // Strict input: unknown fields and wrong types are errors, never silently dropped or coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    return503OnClosing: true,
  });
  registerProblemHandlers(app, deps.registry);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Pigeon SMS gateway',
        version: '1.0.0',
        description: 'Send SMS and one-time codes. Errors are RFC 9457 problem+json with a stable `code`.',
      },
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'API key (pgn_…)' } },
      },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  registerOpsRoutes(app, { readiness: deps.readiness, registry: deps.registry });

  const publisher = new MessagePublisher(deps.bus, deps.cache, deps.logger, deps.publishTimeoutMs);
  await app.register(messageRoutes, {
    authenticator: new ApiKeyAuthenticator(deps.store),
    publisher,
    store: deps.store,
    cache: deps.cache,
    registry: deps.registry,
    publishTimeoutMs: deps.publishTimeoutMs,
  });
  await app.register(receiptRoutes, {
    providers: deps.providers,
    bus: deps.bus,
    cache: deps.cache,
    registry: deps.registry,
  });
  if (deps.simulatorEnabled) await app.register(simulatorRoutes, { cache: deps.cache });
  return app;
}
