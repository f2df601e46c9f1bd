import type { Bus, Subscription } from '../../../core/bus/bus.ts';
import { PigeonError } from '../../../core/errors.ts';
import { EventDecodeError } from '../../../core/events.ts';
import type { Logger } from '../../../core/logger.ts';
import { Topics } from '../../../core/topics.ts';
import { decodeInboundRecord } from '../../../providers/inbound-record.ts';
import type { InboundIntake } from './intake.ts';

/**
 * Handles the inbound SMS the bridges publish from their provider connections (SMPP), through
 * the same intake as the webhooks. All api processes share one consumer group, so each record is
 * handled by one of them; a record redelivered after a crash carries the id the bridge gave it,
 * which the receiver's store insert refuses a second time.
 */
export function followInboundSms(
  bus: Bus,
  intake: InboundIntake,
  logger: Logger,
  groupId: string,
): Promise<Subscription> {
  return bus.subscribe({
    groupId,
    topics: [Topics.inbound],
    fromBeginning: true,
    // A person waits for the answer to their STOP or HELP, but an SMS each way takes seconds: a
    // second more at light load is nothing to them, while an 'immediate' fetch polls the broker ten
    // times a second from every api replica whether or not anything comes, and a 'batched' one five.
    fetch: 'relaxed',
    handler: async (batch) => {
      for (const record of batch.records) {
        let decoded;
        try {
          decoded = decodeInboundRecord(record.value);
        } catch (err) {
          if (!(err instanceof EventDecodeError)) throw err;
          logger.warn({ offset: record.offset, reason: err.message }, 'inbound.bad_record');
          continue;
        }
        try {
          await intake.handle(decoded.provider, decoded.sms, logger);
        } catch (err) {
          // Trying again cannot change a permanent refusal, and it would hold back every SMS
          // behind it in the partition; anything else (the database away) is retried.
          if (!(err instanceof PigeonError) || err.retriable) throw err;
          logger.warn({ offset: record.offset, code: err.code }, 'inbound.refused_record');
        }
      }
    },
  });
}
