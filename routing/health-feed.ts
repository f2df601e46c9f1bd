import { randomUUID } from 'node:crypto';
import type { Bus, Subscription } from '../core/bus/bus.ts';
import { EventDecodeError } from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import { decodeProviderHealth, type HealthBoard } from '../core/provider-health.ts';
import { Topics } from '../core/topics.ts';
import { RoutingEvents } from './events.ts';

/**
 * Feeds a HealthBoard from `provider.health`. Every process needs every verdict, so each gets a
 * consumer group of its own, reading the compacted topic from the start: the latest verdict per
 * provider and country is there.
 */
export function followProviderHealth(
  bus: Bus,
  board: HealthBoard,
  logger: Logger,
  groupPrefix: string,
): Promise<Subscription> {
  return bus.subscribe({
    groupId: `${groupPrefix}.health.${randomUUID()}`,
    topics: [Topics.providerHealth],
    fromBeginning: true,
    // A verdict comes from the monitor's windows of minutes: a second more to reach the routing
    // table is nothing, and every api and bridge process polls for them, idle or not.
    fetch: 'relaxed',
    handler: async (batch) => {
      for (const record of batch.records) {
        try {
          board.apply(decodeProviderHealth(record.value));
        } catch (err) {
          if (!(err instanceof EventDecodeError)) throw err;
          logger.warn({ offset: record.offset, reason: err.message }, RoutingEvents.badHealthEvent);
        }
      }
    },
  });
}
