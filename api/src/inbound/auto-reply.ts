import { newId } from '../../../core/ids.ts';
import { buildMessageRequested } from '../../../core/message-request.ts';
import type { MessagePublisher } from '../publisher.ts';
import type { SendPolicy } from '../send-policy/engine.ts';
import type { AutoReply } from './receiver.ts';

/**
 * Auto-replies as ordinary transactional messages from the sender the keyword was sent to: built,
 * admitted by the tenant's send policy (rate, caps, spend) and published like POST /v1/messages,
 * so a flood of HELPs cannot send more than the tenant may.
 */
export function policedReply(deps: {
  policy: SendPolicy;
  publisher: MessagePublisher;
  publishTimeoutMs: number;
}): AutoReply {
  return async (tenantId, to, from, body) => {
    const now = Date.now();
    const event = buildMessageRequested(
      { to, from, body, class: 'transactional' },
      { tenantId, messageId: newId(now), now, publishTimeoutMs: deps.publishTimeoutMs },
    );
    const admission = await deps.policy.admit(tenantId, {
      to: event.to,
      messageClass: event.class,
      segments: event.segments,
      country: event.country,
    });
    try {
      await deps.publisher.publish([event]);
    } catch (err) {
      await admission.release();
      throw err;
    }
  };
}
