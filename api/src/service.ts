import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { RunningService, ServiceContext } from '../../core/service-host.ts';
import { HealthBoard } from '../../core/provider-health.ts';
import { createBus } from '../../core/runtime.ts';
import { alertingSetup } from '../../alerting/config.ts';
import { followProviderHealth } from '../../routing/health-feed.ts';
import { RoutingCatalog, seedRouting } from '../../routing/catalog.ts';
import { ALL_SCOPES, ApiKeyAuthenticator, apiKeyRecord, generateApiKey } from './api-keys.ts';
import { buildApi } from './app.ts';
import { followCredentialChanges } from './credential-changes.ts';
import { directProvidersFrom } from './oncall/direct-providers.ts';
import { sendPolicySettings } from './send-policy/limits.ts';
import {
  resolveVerificationKeys,
  type VerificationSettings,
  verificationSettings,
} from './verify/settings.ts';
import { smsAlertRecipients } from './inbound/intake.ts';

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

export async function startApi(context: ServiceContext): Promise<ApiService> {
  const { config, logger } = context;
  const embedded = config.mode === 'embedded';
  await context.store().migrate();
  await context.ensureTopics();
  const apiKey = await bootstrapApiKey(context, embedded);
  const providerDeps = { config, cache: context.cache(), logger };
  await seedRouting(context.store(), providerDeps);
  // Adapters here only verify receipts: their own connections (SMPP binds) belong to the bridge.
  const catalog = new RoutingCatalog({ store: context.store(), providerDeps, startAdapters: false });
  await catalog.start();
  const health = new HealthBoard();
  const healthFeed = await followProviderHealth(context.bus(), health, logger, context.groupId('api'));
  // Before listening: a key this process caches from its first request is already followed.
  const authenticator = new ApiKeyAuthenticator(context.store());
  const credentialFeed = await followCredentialChanges(
    context.bus(),
    authenticator,
    logger,
    context.groupId('api'),
  );
  const verification = verificationSettings(
    config,
    resolveVerificationKeys(config, embedded),
    context.bus().kind,
  );
  logVerificationSetup(context, verification);
  // Kafka: the high lane gets a producer of its own, as in the bridge, so a code's publish never
  // queues behind a campaign's bulk produce requests. The memory bus has no requests to queue.
  const urgentBus = context.bus().kind === 'kafka' ? createBus(config, logger) : undefined;
  const app = await buildApi({
    logger,
    bus: context.bus(),
    ...(urgentBus ? { urgentBus } : {}),
    store: context.store(),
    cache: context.cache(),
    registry: context.registry,
    readiness: context.readiness,
    providers: catalog,
    admin: { catalog, providerDeps, health },
    alerting: { setup: alertingSetup(config) },
    inbound: {
      pageTenant: config.bootstrapTenant,
      isIncidentRecipient: smsAlertRecipients(
        config.providersFile?.alerts?.channels ?? [],
        context.store(),
        config.bootstrapTenant,
      ),
      busGroupId: `${context.groupId('api')}.inbound`,
    },
    publicUrl: config.publicUrl,
    publishTimeoutMs: config.publishTimeoutMs,
    simulatorEnabled: config.simulator.enabled,
    trustProxyHops: config.trustProxyHops,
    verification,
    oncall: {
      directProviders: directProvidersFrom(catalog, config.providersFile?.alerts?.oncall?.directProviders),
    },
    callbacks: { allowPrivateNetworks: config.callbacks.allowPrivateNetworks },
    authenticator,
    sendPolicy: { settings: sendPolicySettings(config), providers: () => catalog.table().providers.values() },
    templates: { optOutPhrases: config.templates.optOutPhrases },
    // Every api process may run campaigns; the runner's lease lets one at a time do it.
    ...(config.campaigns.runner
      ? {
          campaignRunner: {
            holder: `${hostname().slice(0, 32)}:${process.pid}:${randomBytes(6).toString('hex')}`,
            settings: {
              chunkRows: config.campaigns.chunkRows,
              maxInFlight: config.campaigns.maxInFlight,
              leaseTtlMs: config.campaigns.leaseTtlMs,
            },
          },
        }
      : {}),
  });
  await app.listen({ port: config.port, host: config.host });
  return {
    app,
    apiKey,
    servesHttp: true,
    close: async () => {
      await app.close();
      await urgentBus?.close();
      await healthFeed.close();
      await credentialFeed.close();
      await catalog.close();
    },
  };
}

/** Printed at start so an operator sees where codes may go, and why verifications may be off. */
function logVerificationSetup(context: ServiceContext, settings: VerificationSettings): void {
  const { logger } = context;
  logger.info(
    { allowedCountries: [...settings.allowedCountries].join(','), setting: 'PIGEON_OTP_ALLOWED_COUNTRIES' },
    'otp.allowed_countries',
  );
  const missing = [
    settings.otpKey ? undefined : 'PIGEON_OTP_KEY',
    settings.factorKey ? undefined : 'PIGEON_FACTOR_KEY',
    settings.sealBodies && !settings.bodyKey ? 'PIGEON_BODY_KEY' : undefined,
  ].filter(Boolean);
  if (missing.length > 0) logger.warn({ missing }, 'otp.disabled');
}
