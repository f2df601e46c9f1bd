import type { Cache } from '../core/cache/cache.ts';
import { eventBase } from '../core/events.ts';
import { MARKER_TTL_MS, Markers } from '../core/markers.ts';
import type { ReceiptReceived } from '../core/message.ts';
import type { ParsedReceipt } from '../providers/provider.ts';

/**
 * Whom a provider's receipts belong to, as the bridge records it when it hands a message to that
 * provider (under our message id) and when the provider accepts it (under each of its ids).
 */
export interface ReceiptOwner {
  messageId: string;
  tenantId: string;
  /** Every part's provider id, for a message the provider split and reports on per part. */
  partIds?: string[];
}

/**
 * Recorded just before `provider` is called with the message: from then on its receipts may name
 * the message by our id, even before its acceptance is recorded or when its answer never comes.
 */
export async function recordHandover(
  cache: Cache,
  provider: string,
  message: { messageId: string; tenantId: string },
): Promise<void> {
  const { key, value } = handoverMarker(provider, message);
  await cache.set(key, value, { ttlMs: MARKER_TTL_MS });
}

/** The key and value recordHandover writes, for a caller that writes it inside its own script. */
export function handoverMarker(
  provider: string,
  message: { messageId: string; tenantId: string },
): { key: string; value: string } {
  const owner: ReceiptOwner = { messageId: message.messageId, tenantId: message.tenantId };
  return { key: Markers.providerReference(provider, message.messageId), value: JSON.stringify(owner) };
}

/**
 * Recorded once `provider` accepted the message, which it was handed over to (recordHandover)
 * before the call: receipts come per part and often without our reference, so every part id leads
 * to the message. For a message in several parts the reference is written again, to name them; for
 * one part the handover already wrote the very same value under it.
 */
export async function recordAcceptance(
  cache: Cache,
  provider: string,
  message: { messageId: string; tenantId: string },
  partIds: readonly string[],
): Promise<void> {
  const owner: ReceiptOwner = { messageId: message.messageId, tenantId: message.tenantId };
  if (partIds.length > 1) owner.partIds = [...partIds];
  const value = JSON.stringify(owner);
  const keys = partIds.map((id) => Markers.providerMessage(provider, id));
  if (partIds.length > 1) keys.push(Markers.providerReference(provider, message.messageId));
  await Promise.all(keys.map((key) => cache.set(key, value, { ttlMs: MARKER_TTL_MS })));
}

/**
 * The message a receipt is for, only when the provider that sent the receipt carried it: by that
 * provider's message id, else by our id echoed as reference if that provider was handed the
 * message. A signed receipt naming another provider's message, or one we never sent, finds nothing.
 */
async function ownerOf(
  provider: string,
  receipt: ParsedReceipt,
  cache: Cache,
): Promise<ReceiptOwner | undefined> {
  const byId = await cache.get(Markers.providerMessage(provider, receipt.providerMessageId));
  if (byId !== undefined) return JSON.parse(byId) as ReceiptOwner;
  if (!receipt.reference) return undefined;
  const byReference = await cache.get(Markers.providerReference(provider, receipt.reference));
  return byReference === undefined ? undefined : (JSON.parse(byReference) as ReceiptOwner);
}

export interface MatchedReceipts {
  events: ReceiptReceived[];
  unmatched: number;
  /** Part receipts held back until the other parts report. */
  pending: number;
}

/**
 * Turns receipts as a provider sent them into receipt events for our messages: matched only to a
 * message that provider carried (see ownerOf), and for a message sent in several parts, folded
 * into one status: `delivered` only once every part is, any other final status as soon as one
 * part reports it. Idempotent, so a provider retrying a receipt gets the same result. Unmatched
 * receipts are only counted: they become no event, so no row, history entry or callback.
 */
export async function matchReceipts(
  provider: string,
  receipts: readonly ParsedReceipt[],
  cache: Cache,
): Promise<MatchedReceipts> {
  const result: MatchedReceipts = { events: [], unmatched: 0, pending: 0 };
  for (const receipt of receipts) {
    const owner = await ownerOf(provider, receipt, cache);
    if (!owner) {
      // Another provider's message, an expired mapping or a forgery: acknowledged, never applied.
      result.unmatched++;
      continue;
    }
    const { messageId } = owner;
    if (owner.partIds && owner.partIds.length > 1) {
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
      ...eventBase(messageId, owner.tenantId),
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
