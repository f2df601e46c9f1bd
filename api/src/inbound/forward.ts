import { type CallbackDelivery, pendingDelivery } from '../../../core/store/kinds/callbacks.ts';
import type { InboundRecord } from '../../../core/store/kinds/inbound.ts';

/**
 * The `message.inbound` webhook body. Unlike status callbacks it carries the sender's full
 * number: the tenant needs it to answer, and it goes only to the tenant's own signed endpoint.
 */
export interface InboundCallback {
  id: string;
  type: 'message.inbound';
  inboundId: string;
  from: string;
  to: string;
  body: string;
  parts: number;
  keyword: string | null;
  inReplyTo: string | null;
  provider: string;
  providerMessageId: string;
  occurredAt: string;
}

export function inboundCallback(record: InboundRecord): InboundCallback {
  return {
    id: record.id,
    type: 'message.inbound',
    inboundId: record.id,
    from: record.from,
    to: record.to,
    body: record.body,
    parts: record.parts,
    keyword: record.keyword,
    inReplyTo: record.inReplyTo,
    provider: record.provider,
    providerMessageId: record.providerMessageId,
    occurredAt: new Date(record.receivedAt).toISOString(),
  };
}

/**
 * The outbox row that forwards an inbound SMS to the tenant's webhook. The persister's callback
 * worker delivers and signs it like any status callback (retries, paused hosts, the same secret);
 * its messageId is the inbound id, and its destination is set, so the worker never looks it up.
 */
export function inboundDelivery(record: InboundRecord, url: string, now: number): CallbackDelivery {
  return pendingDelivery(
    {
      id: record.id,
      tenantId: record.tenantId,
      messageId: record.id,
      url,
      payload: JSON.stringify(inboundCallback(record)),
    },
    now,
  );
}
