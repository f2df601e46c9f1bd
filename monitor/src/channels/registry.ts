import type { Cache } from '../../../core/cache/cache.ts';
import type { Config } from '../../../core/config.ts';
import { PigeonError } from '../../../core/errors.ts';
import type { Logger } from '../../../core/logger.ts';
import type { AlertChannel } from './channel.ts';
import { createDingtalkChannel } from './dingtalk.ts';
import { createEmailChannel } from './email.ts';
import { createFeishuChannel } from './feishu.ts';
import { type ChannelDefinition, ChannelOptions } from './options.ts';
import { createPagerdutyChannel } from './pagerduty.ts';
import { createSlackChannel } from './slack.ts';
import { createSmsChannel } from './sms.ts';
import { createWebhookChannel } from './webhook.ts';
import { createWecomChannel } from './wecom.ts';

export type { ChannelDefinition } from './options.ts';

export interface ChannelDeps {
  config: Config;
  logger: Logger;
  /** What SMS channels' provider adapters need (rate gates, the simulator's outbox). */
  cache: Cache;
  /** The numbers of whoever is on call in a roster now, for SMS channels with a `roster`. */
  onCall?: (roster: string) => Promise<string[]>;
  now?: () => number;
}

type ChannelFactory = (
  options: ChannelOptions,
  deps: ChannelDeps,
  definition: ChannelDefinition,
) => AlertChannel;

/** Channel types by name; each lives in its own file and is registered here. */
export const CHANNEL_TYPES: Readonly<Record<string, ChannelFactory>> = Object.freeze({
  slack: (o) => createSlackChannel(o),
  dingtalk: (o, d) => createDingtalkChannel(o, d.now),
  wecom: (o) => createWecomChannel(o),
  feishu: (o, d) => createFeishuChannel(o, d.now),
  pagerduty: (o) => createPagerdutyChannel(o),
  webhook: (o, d) => createWebhookChannel(o, d.now),
  email: (o) => createEmailChannel(o),
  sms: (o, d, definition) =>
    createSmsChannel(
      o,
      {
        providerDeps: { config: d.config, cache: d.cache, logger: d.logger },
        definitions: d.config.providersFile?.providers ?? [],
        ...(d.onCall ? { onCall: d.onCall } : {}),
        publicUrl: d.config.publicUrl,
        tenantId: d.config.bootstrapTenant,
        ...(d.now ? { now: d.now } : {}),
      },
      definition,
    ),
});

export const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const DEFAULT_CHANNEL_TIMEOUT_MS = 10_000;

/** A built channel and how long the chain waits for it. */
export interface ConfiguredChannel {
  channel: AlertChannel;
  timeoutMs: number;
}

/** Builds one channel; throws PIGEON_ERR_CONFIG naming the channel and what is wrong. */
export function createChannel(definition: ChannelDefinition, deps: ChannelDeps): ConfiguredChannel {
  const label = typeof definition.name === 'string' ? `"${definition.name}"` : '(unnamed)';
  if (typeof definition.name !== 'string' || !CHANNEL_NAME.test(definition.name)) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `alert channel ${label}: "name" must match ${CHANNEL_NAME.source}`,
    );
  }
  const factory = typeof definition.type === 'string' ? CHANNEL_TYPES[definition.type] : undefined;
  if (!factory) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `alert channel ${label} has unknown type "${String(definition.type)}" (known: ${Object.keys(CHANNEL_TYPES).join(', ')})`,
    );
  }
  const options = new ChannelOptions(definition);
  const timeoutMs = options.integer('timeoutMs', DEFAULT_CHANNEL_TIMEOUT_MS, 100, 120_000);
  return { channel: factory(options, deps, definition), timeoutMs };
}

/** The channels of `alerts.channels` in PIGEON_CONFIG, in order; names must be unique. */
export function createChannels(
  definitions: readonly ChannelDefinition[],
  deps: ChannelDeps,
): ConfiguredChannel[] {
  const seen = new Set<string>();
  for (const definition of definitions) {
    if (seen.has(definition.name)) {
      throw new PigeonError('PIGEON_ERR_CONFIG', `alert channel "${definition.name}" is declared twice`);
    }
    seen.add(definition.name);
  }
  return definitions.map((definition) => createChannel(definition, deps));
}
