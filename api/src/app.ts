import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { Bus } from '../../core/bus/bus.ts';
import type { Cache } from '../../core/cache/cache.ts';
import { loadConfig } from '../../core/config.ts';
import type { Readiness } from '../../core/health.ts';
import type { Logger } from '../../core/logger.ts';
import { problemServerOptions } from '../../core/http-problems.ts';
import { registerOpsRoutes } from '../../core/ops-routes.ts';
import { lazyRequestLoggers } from '../../core/request-logger.ts';
import type { Store } from '../../core/store/store.ts';
import type { ProviderLookup } from './routes/receipts.ts';
import { ApiKeyAuthenticator } from './api-keys.ts';
import { authentication } from './auth.ts';
import { CredentialChanges } from './credential-changes.ts';
import { problemCounter, registerProblemHandlers } from './problem.ts';
import { MessagePublisher } from './publisher.ts';
import { type AdminRoutesDeps, adminRoutes } from './routes/admin.ts';
import { historyRoutes } from './routes/history.ts';
import type { AlertingSetup } from '../../alerting/config.ts';
import { alertAdminRoutes } from './routes/alerts-admin.ts';
import { messageRoutes } from './routes/messages.ts';
import { senderAdminRoutes } from './routes/senders-admin.ts';
import { receiptRoutes } from './routes/receipts.ts';
import { inboundRoutes } from './routes/inbound.ts';
import { followInboundSms } from './inbound/follow.ts';
import { inboundIntake } from './inbound/intake.ts';
import { inboundMessageRoutes } from './routes/inbound-messages.ts';
import { optOutAdminRoutes } from './routes/opt-out-admin.ts';
import { suppressionRoutes } from './routes/suppressions.ts';
import { InboundReceiver } from './inbound/receiver.ts';
import { policedReply } from './inbound/auto-reply.ts';
import { SuppressionList } from '../../core/suppression-cache.ts';
import { simulatorRoutes } from './routes/simulator.ts';
import { tenantKeyRoutes } from './routes/tenant-keys.ts';
import { tenantLimitsRoutes } from './routes/tenant-limits.ts';
import { messagingPolicyRoutes } from './routes/messaging-policy.ts';
import { TenantMessagingPolicyCache } from '../../core/messaging-policy.ts';
import { tenantSettingsRoutes } from './routes/tenant-settings.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { templateRoutes } from './routes/templates.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import type { CsvUploadLimits } from './campaigns/csv-upload.ts';
import { verificationRoutes } from './routes/verifications.ts';
import type { DirectProvider } from '../../providers/direct-send.ts';
import type { ProviderInfo } from '../../routing/table.ts';
import { SendPolicy } from './send-policy/engine.ts';
import { type SendPolicySettings, sendPolicySettings } from './send-policy/limits.ts';
import { TenantSendLimitsCache } from './send-policy/tenant-limits.ts';
import { TenantOtpSettingsCache } from './verify/tenant-settings.ts';
import { OncallService } from './oncall/oncall.ts';
import { Pager } from './oncall/pager.ts';
import { alertRoutes } from './routes/alerts.ts';
import { oncallAdminRoutes } from './routes/oncall-admin.ts';
import { webhookRoutes } from './routes/webhook.ts';
import { type VerificationSettings, verificationsDisabled } from './verify/settings.ts';
import { verificationServices } from './verify/services.ts';
import { TenantSigningSecrets } from './webhooks.ts';
import { CampaignRunner, type CampaignRunnerSettings } from './campaigns/runner.ts';
import { campaignControlled } from './campaigns/events.ts';
import { SenderDirectory } from './senders.ts';

export interface ApiDeps {
  logger: Logger;
  bus: Bus;
  /** The high lane's own producer (see MessagePublisher); absent: everything goes through `bus`. */
  urgentBus?: Pick<Bus, 'publish'>;
  store: Store;
  cache: Cache;
  registry: Registry;
  readiness: Readiness;
  /** Adapters whose receipt webhooks this API serves (a Map, or a catalog that reloads). */
  providers: ProviderLookup;
  /** PIGEON_PUBLIC_URL: the origin providers call, which receipt signatures cover. */
  publicUrl?: string;
  publishTimeoutMs: number;
  simulatorEnabled: boolean;
  trustProxyHops?: number;
  /** Keys and limits for /v1/verifications (api/src/verify/settings.ts); absent: those calls answer PIGEON_ERR_CONFIG. */
  verification?: VerificationSettings;
  /** The verifications' clock (tests drive expiry with it), and the default end of usage ranges. */
  now?: () => number;
  /** Status callbacks: whether their URLs may name private networks (PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS). */
  callbacks?: { allowPrivateNetworks: boolean };
  /** Routing administration (/v1/admin/providers, /v1/admin/routes); absent: not served. */
  admin?: Omit<AdminRoutesDeps, 'store'>;
  /** Alert rules, silences and incidents (/v1/alerts/rules, …/silences, …/incidents); absent: not served. */
  alerting?: { setup: AlertingSetup };
  /**
   * On-call paging (/v1/alerts, /v1/admin/oncall): the providers a page goes to directly when the
   * bus does not take it, and how often due escalations are swept (0: never; tests sweep by hand).
   */
  oncall?: { directProviders?: () => readonly DirectProvider[]; escalationIntervalMs?: number };
  /**
   * SMS replies (/v1/inbound/:provider): the tenant whose pages "ACK <page id>" acknowledges, and
   * which numbers incidents go to ("ACK 4821"). Absent: replies are counted, acknowledge nothing.
   */
  inbound?: {
    pageTenant?: string;
    isIncidentRecipient?: (phone: string) => Promise<boolean>;
    /**
     * The consumer group, shared by every api process, that takes the inbound SMS the bridges
     * publish from SMPP links (`sms.inbound`); absent: not consumed here.
     */
    busGroupId?: string;
  };
  /**
   * The key cache, when the caller keeps it in step with the other api processes
   * (followCredentialChanges in credential-changes.ts); default: a new one.
   */
  authenticator?: ApiKeyAuthenticator;
  /**
   * The send policy of every send path: its settings (default: the PIGEON_SEND_* defaults) and the
   * route table's providers, whose per-country prices estimate spend (default: none, so every part
   * costs PIGEON_SEND_PRICE_PER_PART).
   */
  sendPolicy?: { settings?: SendPolicySettings; providers?: () => Iterable<ProviderInfo> };
  /**
   * Whether a tenant lets look-alike characters be replaced by GSM-7 ones (core/encoding.ts), read
   * on every accept: answer from memory. Default: the tenant's messaging policy (`smartEncoding`,
   * read through its 5-second cache); a request's `smartEncoding` overrides either.
   */
  smartEncoding?: (tenantId: string) => Promise<boolean> | boolean;
  /** Message templates (/v1/templates): the opt-out phrases a marketing template must carry one of. */
  templates?: { optOutPhrases?: readonly string[] };
  /**
   * The campaign runner (api/src/campaigns/runner.ts), started with the server and closed with
   * it: `holder` names this process in the runner's lease. Absent: this api runs no campaigns.
   */
  campaignRunner?: { holder: string; settings?: Partial<CampaignRunnerSettings> };
  /** Bulk campaigns (/v1/campaigns): the CSV upload limits (default: CSV_UPLOAD_LIMITS). */
  campaigns?: { uploadLimits?: CsvUploadLimits };
}

/** Builds the API server: public REST API, receipt webhooks, OpenAPI at /docs, health and metrics. */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  // Typed as Fastify's logger so the instance type is the plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const countProblem = problemCounter(deps.registry);
  const app = Fastify({
    ...problemServerOptions(countProblem),
    loggerInstance,
    // One log line per request costs more than the request itself at 10k/s; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Each request's child logger is made only when the request logs (a 2xx logs nothing).
    childLoggerFactory: lazyRequestLoggers,
    // X-Forwarded-For is believed for exactly the configured number of proxy hops.
    trustProxy: (_address: string, hop: number) => hop < (deps.trustProxyHops ?? 0),
    // Strict input: unknown fields and wrong types are errors, never silently dropped or coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  registerProblemHandlers(app, countProblem);

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
    // A route that streams its body (the campaign CSV upload) has no body schema to validate, but
    // the document still says what it takes: a text body of the content types it consumes.
    transform: ({ schema, url }) =>
      schema && 'consumes' in schema && !('body' in schema)
        ? { schema: { ...schema, body: { type: 'string', description: 'The body, streamed' } }, url }
        : { schema, url },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  registerOpsRoutes(app, { readiness: deps.readiness, registry: deps.registry });
  // Before the routes, which guard themselves with its `app.requireScope`.
  const authenticator = deps.authenticator ?? new ApiKeyAuthenticator(deps.store);
  await app.register(authentication, { store: deps.store, authenticator });

  const seal = deps.verification?.sealBodies ? deps.verification.bodyKey : undefined;
  const publisher = new MessagePublisher(
    deps.bus,
    deps.cache,
    deps.logger,
    deps.publishTimeoutMs,
    seal,
    deps.urgentBus,
  );
  const signingSecrets = new TenantSigningSecrets(deps.store);
  const allowPrivateCallbackNetworks = deps.callbacks?.allowPrivateNetworks ?? false;
  const otpSettings = TenantOtpSettingsCache.for(deps.store);
  otpSettings.logger ??= deps.logger;
  const tenantLimits = TenantSendLimitsCache.for(deps.store);
  tenantLimits.logger ??= deps.logger;
  const policySettings = deps.sendPolicy?.settings ?? sendPolicySettings(loadConfig({}));
  const pricedProviders = deps.sendPolicy?.providers ?? (() => []);
  const messagingPolicy = TenantMessagingPolicyCache.for(deps.store);
  messagingPolicy.logger ??= deps.logger;
  const smartEncoding =
    deps.smartEncoding ??
    (async (tenantId: string) => (await messagingPolicy.get(tenantId))?.smartEncoding ?? false);
  const policy = new SendPolicy({
    cache: deps.cache,
    logger: deps.logger,
    registry: deps.registry,
    settings: policySettings,
    tenantLimits,
    otpSettings,
    messagingPolicy,
    providers: pricedProviders,
    ...(deps.now ? { now: deps.now } : {}),
  });
  await app.register(messageRoutes, {
    publisher,
    store: deps.store,
    cache: deps.cache,
    registry: deps.registry,
    publishTimeoutMs: deps.publishTimeoutMs,
    signingSecrets,
    allowPrivateCallbackNetworks,
    policy,
    smartEncoding,
  });
  await app.register(templateRoutes, {
    store: deps.store,
    providers: pricedProviders,
    fallbackPricePerPart: policySettings.defaults.pricePerPart,
    ...(deps.templates?.optOutPhrases ? { optOutPhrases: deps.templates.optOutPhrases } : {}),
    smartEncoding,
    ...(deps.now ? { now: deps.now } : {}),
  });
  await app.register(campaignRoutes, {
    store: deps.store,
    providers: pricedProviders,
    fallbackPricePerPart: policySettings.defaults.pricePerPart,
    ...(deps.templates?.optOutPhrases ? { optOutPhrases: deps.templates.optOutPhrases } : {}),
    ...(deps.campaigns?.uploadLimits ? { uploadLimits: deps.campaigns.uploadLimits } : {}),
    controlled: campaignControlled(deps.store, deps.cache),
    smartEncoding,
    ...(deps.now ? { now: deps.now } : {}),
  });
  await app.register(historyRoutes, {
    store: deps.store,
    ...(deps.now ? { now: deps.now } : {}),
  });
  await app.register(webhookRoutes, {
    store: deps.store,
    signingSecrets,
    allowPrivateNetworks: allowPrivateCallbackNetworks,
  });
  await app.register(verificationRoutes, {
    ...verificationServices({
      cache: deps.cache,
      store: deps.store,
      bus: deps.bus,
      publisher,
      logger: deps.logger,
      registry: deps.registry,
      settings: deps.verification ?? verificationsDisabled(deps.publishTimeoutMs),
      sendPolicy: policy,
      ...(deps.now ? { now: deps.now } : {}),
    }),
  });
  await app.register(tenantSettingsRoutes, { store: deps.store });
  const credentialChanges = new CredentialChanges(deps.bus, authenticator, deps.publishTimeoutMs);
  const tenantAdmin = { store: deps.store, credentialChanges, ...(deps.now ? { now: deps.now } : {}) };
  await app.register(tenantRoutes, tenantAdmin);
  await app.register(tenantKeyRoutes, tenantAdmin);
  await app.register(senderAdminRoutes, { store: deps.store });
  await app.register(tenantLimitsRoutes, { store: deps.store, ...(deps.now ? { now: deps.now } : {}) });
  await app.register(messagingPolicyRoutes, { store: deps.store, ...(deps.now ? { now: deps.now } : {}) });
  const oncall = new OncallService({
    store: deps.store,
    cache: deps.cache,
    logger: deps.logger,
    registry: deps.registry,
    pager: new Pager({
      publisher,
      directProviders: deps.oncall?.directProviders ?? (() => []),
      publicUrl: deps.publicUrl ?? 'http://127.0.0.1',
      publishTimeoutMs: deps.publishTimeoutMs,
      logger: deps.logger,
      registry: deps.registry,
      ...(deps.now ? { now: deps.now } : {}),
    }),
    ...(deps.now ? { now: deps.now } : {}),
  });
  await app.register(alertRoutes, {
    oncall,
    ...(deps.oncall?.escalationIntervalMs !== undefined
      ? { escalationIntervalMs: deps.oncall.escalationIntervalMs }
      : {}),
  });
  await app.register(oncallAdminRoutes, {
    store: deps.store,
    onChange: (tenantId, name) => oncall.rosterChanged(tenantId, name),
    ...(deps.now ? { now: deps.now } : {}),
  });
  if (deps.alerting) {
    await app.register(alertAdminRoutes, {
      store: deps.store,
      setup: deps.alerting.setup,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }
  if (deps.admin) {
    await app.register(adminRoutes, {
      ...deps.admin,
      store: deps.store,
    });
  }
  await app.register(receiptRoutes, {
    providers: deps.providers,
    bus: deps.bus,
    cache: deps.cache,
    registry: deps.registry,
    publicUrl: deps.publicUrl ?? 'http://127.0.0.1',
  });
  // Opt-out and two-way messaging: the list (store first, then the cache the bridge reads), the
  // tenant-facing routes, and the receiver behind the providers' inbound webhooks.
  const suppressions = new SuppressionList(deps.store, deps.cache);
  await app.register(suppressionRoutes, {
    store: deps.store,
    suppressions,
    ...(deps.now ? { now: deps.now } : {}),
  });
  await app.register(inboundMessageRoutes, { store: deps.store });
  await app.register(optOutAdminRoutes, { store: deps.store, ...(deps.now ? { now: deps.now } : {}) });
  const receiver = new InboundReceiver({
    store: deps.store,
    cache: deps.cache,
    suppressions,
    reply: policedReply({ policy, publisher, publishTimeoutMs: deps.publishTimeoutMs }),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const { busGroupId, ...acknowledging } = deps.inbound ?? {};
  const intake = inboundIntake({
    store: deps.store,
    oncall,
    receiver,
    registry: deps.registry,
    ...acknowledging,
    ...(deps.now ? { now: deps.now } : {}),
  });
  await app.register(inboundRoutes, {
    providers: deps.providers,
    intake,
    publicUrl: deps.publicUrl ?? 'http://127.0.0.1',
  });
  if (busGroupId !== undefined) {
    const inboundFeed = await followInboundSms(deps.bus, intake, deps.logger, busGroupId);
    app.addHook('onClose', async () => inboundFeed.close());
  }
  if (deps.campaignRunner) {
    const runner = new CampaignRunner({
      store: deps.store,
      cache: deps.cache,
      publisher,
      policy,
      senders: SenderDirectory.for(deps.store),
      smartEncoding,
      logger: deps.logger,
      registry: deps.registry,
      publishTimeoutMs: deps.publishTimeoutMs,
      allowPrivateCallbackNetworks,
      holder: deps.campaignRunner.holder,
      ...(deps.campaignRunner.settings ? { settings: deps.campaignRunner.settings } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    });
    app.addHook('onReady', async () => runner.start());
    app.addHook('onClose', async () => runner.close());
  }
  if (deps.simulatorEnabled) {
    await app.register(simulatorRoutes, {
      cache: deps.cache,
      providers: deps.providers,
      publicUrl: deps.publicUrl ?? 'http://127.0.0.1',
    });
  }
  return app;
}
