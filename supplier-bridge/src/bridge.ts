import type { Registry } from 'prom-client';
import type { Bus, ConsumedBatch, Subscription } from '../../core/bus/bus.ts';
import { groupBy, mapLimit } from '../../core/concurrency.ts';
import { decodeEvent, EventDecodeError } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import type { OutcomeEvent } from '../../core/message.ts';
import { SEND_TOPICS, Topics } from '../../core/topics.ts';
import type { Dispatcher } from './dispatcher.ts';

export const BRIDGE_GROUP = 'pigeon-bridge';

export interface BridgeOptions {
  bus: Bus;
  dispatcher: Dispatcher;
  logger: Logger;
  registry: Registry;
  concurrency: number;
  /** Consumer group (default `pigeon-bridge`). */
  groupId?: string;
}

/**
 * The supplier bridge's consumer loop: each batch of requested messages is dispatched (messages
 * for one recipient in order, different recipients in parallel), every outcome is published, and
 * only then does the batch's offset commit — so a crash replays the batch and the dispatcher's
 * markers make the replay harmless.
 */
export async function startBridge(options: BridgeOptions): Promise<Subscription> {
  const { bus, dispatcher, logger } = options;
  return bus.subscribe({
    groupId: options.groupId ?? BRIDGE_GROUP,
    topics: SEND_TOPICS,
    handler: async (batch: ConsumedBatch) => {
      const outcomes: OutcomeEvent[] = [];
      const groups = groupBy(batch.records, (r) => r.key);
      await mapLimit(groups, options.concurrency, async (records) => {
        for (const record of records) {
          let event: ReturnType<typeof decodeEvent>;
          try {
            event = decodeEvent(record.value);
          } catch (err) {
            if (!(err instanceof EventDecodeError)) throw err;
            logger.error(
              { topic: record.topic, offset: record.offset, reason: err.message },
              'bridge.poison_message',
            );
            await bus.publish(Topics.dlq, [
              {
                key: record.key,
                value: record.value,
                headers: { reason: err.message, source: record.topic },
              },
            ]);
            continue;
          }
          if (event.type !== 'message.requested') continue;
          const outcome = await dispatcher.dispatch(event, record.timestamp);
          if (outcome) outcomes.push(outcome);
        }
      });
      if (outcomes.length > 0) {
        await bus.publish(
          Topics.outcomes,
          outcomes.map((o) => ({ key: o.messageId, value: JSON.stringify(o) })),
        );
      }
    },
  });
}
