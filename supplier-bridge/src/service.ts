import { Counter } from 'prom-client';
import type { Bus } from '../../core/bus/bus.ts';
import type { Cache } from '../../core/cache/cache.ts';
import type { Logger } from '../../core/logger.ts';
import { keyBytes } from '../../core/keys.ts';
import { HealthBoard } from '../../core/provider-health.ts';
import { openBody } from '../../core/sealed-body.ts';
import type { RunningService, ServiceContext } from '../../core/service-host.ts';
import { Topics } from '../../core/topics.ts';
import type { ProviderAdapter } from '../../providers/provider.ts';
import { startBridge } from './bridge.ts';
import { createBus } from '../../core/runtime.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { followProviderHealth } from '../../routing/health-feed.ts';
import { CacheProviderGate } from './provider-gate.ts';
import { encodeInboundRecord } from '../../providers/inbound-record.ts';
import { matchReceipts } from '../../routing/receipt-matcher.ts';
import { CatalogPlanner } from '../../routing/planner.ts';
import { RoutingCatalog, seedRouting } from '../../routing/catalog.ts';
import { BridgeEvents } from './events.ts';
import { TenantMessagingPolicyCache } from '../../core/messaging-policy.ts';
import { QuietHoursGate } from './dispatch/quiet-hours.ts';

export async function startSupplierBridge(context: ServiceContext): Promise<RunningService> {
  const { config, logger, registry } = context;
  await context.ensureTopics();
  const store = context.store();
  await store.migrate();
  const cache = context.cache();
  const bus = context.bus();
  const providerDeps = { config, cache, logger };
  await seedRouting(store, providerDeps);
  const forwardReceipts = pushedReceiptForwarder(bus, cache, logger, registry);
  const forwardInbound = pushedInboundForwarder(bus, logger, registry);
  const catalog = new RoutingCatalog({
    store,
    providerDeps,
    onAdapter: (adapter) => {
      forwardReceipts(adapter);
      forwardInbound(adapter);
    },
  });
  await catalog.start();
  const health = new HealthBoard();
  const healthFeed = await followProviderHealth(bus, health, logger, context.groupId('bridge'));
  const messagingPolicy = TenantMessagingPolicyCache.for(store);
  messagingPolicy.logger = logger;
  const bodyKey = config.otp.bodyKey ? keyBytes(config.otp.bodyKey, { exactBytes: 32 }) : undefined;
  const dispatcher = new Dispatcher({
    planner: new CatalogPlanner(catalog, health),
    // OTP bodies cross Kafka sealed (AES-256-GCM); only the API and the bridge hold the key.
    ...(bodyKey ? { openBody: (body: string) => openBody(body, bodyKey) } : {}),
    gate: new CacheProviderGate(cache),
    cache,
    logger,
    registry,
    publicUrl: config.publicUrl,
    breaker: { timeoutMs: config.bridge.sendTimeoutMs },
    receiptTimeoutMs: config.bridge.receiptTimeoutMs,
    maxRounds: config.bridge.maxRounds,
    quietHours: new QuietHoursGate(messagingPolicy, registry),
  });
  // Kafka: the high lane's outcomes get a producer of their own (see BridgeOptions.urgentPublisher).
  // The memory bus has no produce requests to wait behind, and a second one would be another bus.
  const urgentBus = bus.kind === 'kafka' ? createBus(config, logger) : undefined;
  const bridge = await startBridge({
    bus,
    ...(urgentBus ? { urgentPublisher: urgentBus } : {}),
    dispatcher,
    logger,
    registry,
    concurrency: config.bridge.concurrency,
    groupId: context.groupId('bridge'),
    lanes: config.bridge.lanes,
  });
  return {
    // The monitor sees breakers only through the bridges' heartbeats.
    heartbeat: () => ({ breakers: dispatcher.breakerStates() }),
    close: async () => {
      await bridge.close();
      await urgentBus?.close();
      await healthFeed.close();
      await dispatcher.close();
      await catalog.close();
    },
  };
}

/**
 * Receipts over a provider's own link (SMPP deliver_sm) are matched and published by the bridge,
 * which holds that link; HTTP receipts go through the API's webhook instead.
 */
export function pushedReceiptForwarder(
  bus: Bus,
  cache: Cache,
  logger: Logger,
  registry: ServiceContext['registry'],
) {
  const pushed = new Counter({
    name: 'pigeon_bridge_pushed_receipts_total',
    help: 'Receipts that arrived over a provider connection (SMPP deliver_sm), by result',
    labelNames: ['provider', 'result'],
    registers: [registry],
  });
  return (adapter: ProviderAdapter) => {
    // The adapter acknowledges the receipt to the provider only when this resolves: a receipt
    // that could not be matched or published is refused and comes again.
    adapter.onReceipt?.(async (receipt) => {
      try {
        const { events, unmatched } = await matchReceipts(adapter.name, [receipt], cache);
        if (unmatched > 0) pushed.inc({ provider: adapter.name, result: 'unmatched' });
        if (events.length === 0) return;
        await bus.publish(
          Topics.receipts,
          events.map((e) => ({ key: e.messageId, value: JSON.stringify(e) })),
        );
        pushed.inc({ provider: adapter.name, result: 'accepted' }, events.length);
      } catch (err) {
        pushed.inc({ provider: adapter.name, result: 'failed' });
        logger.error({ err, provider: adapter.name }, BridgeEvents.pushedReceiptFailed);
        throw err;
      }
    });
  };
}

/**
 * Inbound SMS over a provider's own link (SMPP deliver_sm from a handset) go to the api over
 * `sms.inbound`: the bridge holds the link, the api handles inbound. The adapter acknowledges the
 * SMS to the provider only once it is on the topic, so none is lost between the two.
 */
export function pushedInboundForwarder(bus: Bus, logger: Logger, registry: ServiceContext['registry']) {
  const pushed = new Counter({
    name: 'pigeon_bridge_pushed_inbound_total',
    help: 'Inbound SMS that arrived over a provider connection (SMPP deliver_sm), by result',
    labelNames: ['provider', 'result'],
    registers: [registry],
  });
  return (adapter: ProviderAdapter) => {
    adapter.onInbound?.(async (sms) => {
      try {
        await bus.publish(Topics.inbound, [encodeInboundRecord(adapter.name, sms)]);
        pushed.inc({ provider: adapter.name, result: 'published' });
      } catch (err) {
        pushed.inc({ provider: adapter.name, result: 'failed' });
        logger.error({ err, provider: adapter.name }, BridgeEvents.pushedInboundFailed);
        throw err;
      }
    });
  };
}
