import type { Registry } from 'prom-client';
import type { Cache } from '../../../core/cache/cache.ts';
import type { Config } from '../../../core/config.ts';
import type { Logger } from '../../../core/logger.ts';
import { onCallAt } from '../../../core/oncall.ts';
import type { Store } from '../../../core/store/store.ts';
import type { Notifier } from '../../../alerting/notifier.ts';
import type { AlertNotification } from '../../../alerting/notification.ts';
import type { AlertChannel } from './channel.ts';
import { type ChainAttempt, ChannelChain } from './chain.ts';
import { type ChannelDefinition, createChannels } from './registry.ts';

export { ChannelChain, NotificationUndeliveredError } from './chain.ts';
export type { AlertChannel } from './channel.ts';

export interface NotifierDeps {
  logger: Logger;
  registry: Registry;
  /** For SMS channels' provider adapters (rate gates, the simulator's outbox). */
  cache: Cache;
  /** Where SMS channels with a `roster` read who is on call (rosters of PIGEON_TENANT). */
  store?: Store;
  now?: () => number;
}

/** What the incident engine calls (alerting/notifier.ts `Notifier`), plus its lifecycle. */
export interface ChannelNotifier extends Notifier {
  /**
   * Delivers the notification through `channels` in order until one takes it (every configured
   * channel, in configuration order, when the list is empty). Rejects with
   * NotificationUndeliveredError, which is retriable unless every channel refused for good, when
   * none took it.
   */
  notify(notification: AlertNotification, channels: readonly string[]): Promise<void>;
  /** Like notify, saying which channel took it and how each one tried did. */
  deliver(
    notification: AlertNotification,
    channels: readonly string[],
  ): Promise<{ channel: string; attempts: ChainAttempt[] }>;
  readonly channels: readonly AlertChannel[];
  close(): Promise<void>;
}

/**
 * Builds the channels of `alerts.channels` in PIGEON_CONFIG (throws PIGEON_ERR_CONFIG naming a
 * bad one, so the monitor stops at start rather than lose alerts later) and the chain over them.
 */
export function createNotifier(config: Config, deps: NotifierDeps): ChannelNotifier {
  const { store } = deps;
  const now = deps.now ?? Date.now;
  const onCall = store
    ? async (roster: string) => {
        const record = await store.getRoster(config.bootstrapTenant, roster);
        return record ? [onCallAt(record.roster, now()).member.phone] : [];
      }
    : undefined;
  const definitions = (config.providersFile?.alerts?.channels ?? []) as readonly ChannelDefinition[];
  const configured = createChannels(definitions, {
    config,
    logger: deps.logger,
    cache: deps.cache,
    ...(onCall ? { onCall } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const chain = new ChannelChain(configured, { registry: deps.registry, logger: deps.logger });
  return {
    channels: configured.map((c) => c.channel),
    deliver: (notification, channels) => chain.deliver(notification, channels),
    notify: async (notification, channels) => {
      await chain.deliver(notification, channels);
    },
    close: () => chain.close(),
  };
}
