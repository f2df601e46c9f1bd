import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { RunningService, ServiceContext } from '../../core/service-host.ts';
import { createProviders } from '../../supplier-bridge/providers/registry.ts';
import { ALL_SCOPES, apiKeyRecord, generateApiKey } from './api-keys.ts';
import { buildApi } from './app.ts';

export interface ApiService extends RunningService {
  app: FastifyInstance;
  /** The bootstrap key, when this process created or was given one. */
  apiKey: string | undefined;
}

/**
 * Makes sure a first API key exists: `PIGEON_API_KEY` when set; in embedded mode otherwise one
 * generated once and kept in PIGEON_DATA_DIR so it survives restarts. Only its hash is stored.
 */
async function bootstrapApiKey(context: ServiceContext, embedded: boolean): Promise<string | undefined> {
  const { config } = context;
  let key = config.bootstrapApiKey;
  if (!key && embedded) {
    const file = join(config.dataDir, 'api-key');
    if (existsSync(file)) key = readFileSync(file, 'utf8').trim();
    else {
      key = generateApiKey();
      writeFileSync(file, `${key}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
  }
  if (key)
    await context.store().putApiKey(apiKeyRecord(key, config.bootstrapTenant, ALL_SCOPES, 'bootstrap'));
  return key;
}

export async function startApi(
  context: ServiceContext,
  options: { embedded?: boolean } = {},
): Promise<ApiService> {
  const { config, logger } = context;
  await context.store().migrate();
  await context.ensureTopics();
  const apiKey = await bootstrapApiKey(context, options.embedded ?? false);
  const providers = createProviders({ config, cache: context.cache(), logger });
  const app = await buildApi({
    logger,
    bus: context.bus(),
    store: context.store(),
    cache: context.cache(),
    registry: context.registry,
    readiness: context.readiness,
    providers: new Map(providers.map((p) => [p.adapter.name, p.adapter])),
    publishTimeoutMs: config.publishTimeoutMs,
    simulatorEnabled: config.simulator.enabled,
    trustProxyHops: config.trustProxyHops,
  });
  await app.listen({ port: config.port, host: config.host });
  return {
    app,
    apiKey,
    servesHttp: true,
    close: async () => {
      await app.close();
      await Promise.all(providers.map((p) => p.adapter.close?.() ?? Promise.resolve()));
    },
  };
}
