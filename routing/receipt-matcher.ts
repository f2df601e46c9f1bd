import type { Cache } from '../core/cache/cache.ts';
import { eventBase } from '../core/events.ts';
import { MARKER_TTL_MS, Markers } from '../core/markers.ts';
import type { ReceiptReceived } from '../core/message.ts';
import type { ParsedReceipt } from '../providers/provider.ts';

/** What the bridge stored under a provider message id when the provider accepted the message. */
interface Owner {
  messageId: string;
  tenantId: string;
  /** Every part's provider id, for a message the provider split and reports on per part. */
  partIds?: string[];
}

export interface MatchedReceipts {
  events: ReceiptReceived[];
  unmatched: number;
  /** Part receipts held back until the other parts report. */
  pending: number;
}

/**
 * Turns receipts as a provider sent them into receipt events for our messages: matched by the
 * provider's message id (or the client reference it echoes), and for a message sent in several
 * parts, folded into one status: `delivered` only once every part is, any other final status as
 * soon as one part reports it. Idempotent, so a provider retrying a receipt gets the same result.
 */
export async function matchReceipts(
  provider: string,
  receipts: readonly ParsedReceipt[],
  cache: Cache,
): Promise<MatchedReceipts> {
  const result: MatchedReceipts = { events: [], unmatched: 0, pending: 0 };
  for (const receipt of receipts) {
    const stored = await cache.get(Markers.providerMessage(provider, receipt.providerMessageId));
    const owner = stored ? (JSON.parse(stored) as Owner) : undefined;
    const messageId = owner?.messageId ?? receipt.reference;
    if (!messageId) {
      // Unknown to us (expired mapping, or another system's message): acknowledge, never retry forever.
      result.unmatched++;
      continue;
    }
    if (owner?.partIds && owner.partIds.length > 1) {
      await cache.set(Markers.partReceipt(messageId, receipt.providerMessageId), receipt.status, {
        ttlMs: MARKER_TTL_MS,
      });
      if (receipt.status === 'delivered') {
        const statuses = await Promise.all(
          owner.partIds.map((id) => cache.get(Markers.partReceipt(messageId, id))),
        );
        if (!statuses.every((s) => s === 'delivered')) {
          result.pending++;
          continue;
        }
      }
    }
    if (receipt.status === 'delivered') {
      await cache.set(Markers.delivered(messageId), '1', { ttlMs: MARKER_TTL_MS });
    }
    const event: ReceiptReceived = {
      ...eventBase(messageId, owner?.tenantId ?? ''),
      type: 'receipt.received',
      provider,
      providerMessageId: receipt.providerMessageId,
      status: receipt.status,
      providerStatus: receipt.providerStatus,
    };
    if (receipt.doneAt) event.doneAt = receipt.doneAt;
    result.events.push(event);
  }
  return result;
}
