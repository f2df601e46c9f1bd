import type { MessageRequested } from '../../core/message.ts';
import { chooseSender } from '../../core/sender-choice.ts';
import type { SenderRecord } from '../../core/store/kinds/senders.ts';
import type { SendCandidate } from './send-policy/engine.ts';

// What every path that publishes a built message does to it before the bus: the single send, the
// batch and the campaign runner share these so a campaign row is the batch's message exactly.

/** Sets the event's sender as the tenant's registry decides; throws PIGEON_ERR_SENDER_NOT_REGISTERED. */
export function applySender(event: MessageRequested, senders: readonly SenderRecord[]): void {
  const from = chooseSender(senders, {
    tenantId: event.tenantId,
    to: event.to,
    country: event.country,
    from: event.from,
  });
  if (from === undefined) delete event.from;
  else event.from = from;
}

/** The message as the send policy judges it. */
export function sendCandidate(event: MessageRequested): SendCandidate {
  return {
    to: event.to,
    messageClass: event.class,
    segments: event.segments,
    country: event.country,
    messageId: event.messageId,
    from: event.from,
    body: event.body,
  };
}
