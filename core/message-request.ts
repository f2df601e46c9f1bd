import { callbackUrlProblem } from './callback-url.ts';
import { type Metadata, requireClientReference } from './client-reference.ts';
import { PigeonError } from './errors.ts';
import { eventBase } from './events.ts';
import { laneFor, type MessageClass, type MessageRequested } from './message.ts';
import { requireE164 } from './phone.ts';
import { requireSenderId } from './sender-id.ts';
import { type EncodingReport, encodeText } from './encoding.ts';
import { MAX_SEGMENTS } from './segments.ts';

export interface MessageInput {
  to: string;
  body: string;
  from?: string;
  class?: MessageClass;
  ttlSeconds?: number;
  statusCallback?: string;
  /** The client's own reference, stored, searchable and echoed in status callbacks. */
  clientRef?: string;
  /** A few labels of the client's, echoed in status callbacks. */
  metadata?: Metadata;
}

/** How long a message may wait for a provider before it is failed as `expired`. */
export const DEFAULT_TTL_SECONDS_BY_CLASS: Record<MessageClass, number> = {
  otp: 600,
  alert: 3_600,
  transactional: 86_400,
  marketing: 86_400,
};

/** What building a message gives: its event, and how its text is encoded and why. */
export interface BuiltMessage {
  event: MessageRequested;
  encoding: EncodingReport;
}

/** What a message is built in: tenant, id, clock, deadline and the tenant's encoding choices. */
export interface MessageContext {
  tenantId: string;
  messageId: string;
  now: number;
  publishTimeoutMs: number;
  fromBatch?: boolean;
  batchId?: string;
  /** The campaign the message is one row of (its runner's), stored as messages.campaign_id. */
  campaignId?: string;
  /** PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS: callback URLs may name private addresses. */
  allowPrivateCallbackNetworks?: boolean;
  /** Replace look-alike characters by their GSM-7 equivalents when that makes the text GSM-7. */
  smartEncoding?: boolean;
}

/**
 * Validates one message and builds its `message.requested` event. Pure: the clock and the
 * publish deadline are passed in. Throws PigeonError with a stable code for each kind of bad input.
 */
export function buildMessageRequested(input: MessageInput, context: MessageContext): MessageRequested {
  return buildMessage(input, context).event;
}

/**
 * buildMessageRequested, with the encoding report: the event's body is the text as it goes to the
 * provider (look-alikes replaced when the context allows it).
 */
export function buildMessage(input: MessageInput, context: MessageContext): BuiltMessage {
  const recipient = requireE164(input.to, 'to');
  const sender = input.from === undefined ? undefined : requireSenderId(input.from, 'from');
  const info = encodeText(input.body, { smartEncoding: context.smartEncoding ?? false });
  // The text that goes out: a body of zero-width characters is empty once they are replaced.
  if (info.text.trim().length === 0) {
    throw new PigeonError('PIGEON_ERR_EMPTY_BODY', '"body" must contain text', {
      errors: [{ field: '/body', message: 'empty' }],
    });
  }
  if (info.segments > MAX_SEGMENTS) {
    throw new PigeonError(
      'PIGEON_ERR_BODY_TOO_LONG',
      `"body" needs ${info.segments} SMS parts (${info.encoding}); the limit is ${MAX_SEGMENTS}`,
      { errors: [{ field: '/body', message: `${info.segments} parts > ${MAX_SEGMENTS}` }] },
    );
  }
  if (input.statusCallback !== undefined) {
    const problem = callbackUrlProblem(input.statusCallback, {
      allowPrivateNetworks: context.allowPrivateCallbackNetworks ?? false,
    });
    if (problem) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', `"statusCallback" ${problem}`, {
        errors: [{ field: '/statusCallback', message: problem }],
      });
    }
  }
  const reference = requireClientReference(input);
  const messageClass = input.class ?? 'transactional';
  const ttl = input.ttlSeconds ?? DEFAULT_TTL_SECONDS_BY_CLASS[messageClass];
  const event: MessageRequested = {
    ...eventBase(context.messageId, context.tenantId, context.now),
    type: 'message.requested',
    to: recipient.e164,
    body: info.text,
    class: messageClass,
    lane: laneFor(messageClass, context.fromBatch),
    segments: info.segments,
    encoding: info.encoding,
    expiresAt: new Date(context.now + ttl * 1000).toISOString(),
    acceptDeadline: new Date(context.now + context.publishTimeoutMs).toISOString(),
  };
  if (sender) event.from = sender.value;
  if (recipient.country) event.country = recipient.country;
  if (context.batchId) event.batchId = context.batchId;
  if (context.campaignId) event.campaignId = context.campaignId;
  if (input.statusCallback !== undefined) event.statusCallback = input.statusCallback;
  if (reference.clientRef !== undefined) event.clientRef = reference.clientRef;
  if (reference.metadata !== undefined) event.metadata = reference.metadata;
  return { event, encoding: info };
}
