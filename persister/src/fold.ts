import { type PigeonEvent, statusOf } from '../../core/message.ts';
import { advance } from '../../core/status-machine.ts';
import type { MessageEventRecord, MessagePatch, WriteBatch } from '../../core/store/store.ts';

/**
 * Folds a batch of events into one patch per message plus one history row per event. Pure, so
 * the persister's idempotence and order-independence can be tested without a database.
 */
export function foldEvents(events: readonly PigeonEvent[]): WriteBatch {
  const patches = new Map<string, MessagePatch>();
  const rows: MessageEventRecord[] = [];
  for (const event of events) {
    const patch = patchFor(event);
    const existing = patches.get(patch.id);
    patches.set(patch.id, existing ? mergePatches(existing, patch) : patch);
    rows.push(historyRow(event));
  }
  return { messages: [...patches.values()], events: rows };
}

function patchFor(event: PigeonEvent): MessagePatch {
  const at = Date.parse(event.occurredAt);
  const patch: MessagePatch = { id: event.messageId, status: statusOf(event), updatedAt: at };
  if (event.tenantId) patch.tenantId = event.tenantId;
  switch (event.type) {
    case 'message.requested':
      Object.assign(patch, {
        recipient: event.to,
        sender: event.from ?? null,
        messageClass: event.class,
        lane: event.lane,
        // OTP texts carry a code: the store never keeps them.
        body: event.class === 'otp' ? null : event.body,
        segments: event.segments,
        encoding: event.encoding,
        country: event.country ?? null,
        batchId: event.batchId ?? null,
        queuedAt: at,
      });
      break;
    case 'message.submitted':
      Object.assign(patch, {
        provider: event.provider,
        providerMessageId: event.providerMessageId,
        segments: event.segments,
        cost: event.cost,
        submittedAt: at,
      });
      break;
    case 'message.failed':
      patch.errorCode = event.errorCode;
      patch.finalAt = at;
      if (event.provider) patch.provider = event.provider;
      break;
    case 'receipt.received':
      patch.provider = event.provider;
      patch.providerMessageId = event.providerMessageId;
      if (patch.status !== 'unknown') patch.finalAt = event.doneAt ? Date.parse(event.doneAt) || at : at;
      if (event.status !== 'delivered') patch.errorCode = event.providerStatus;
      break;
  }
  return patch;
}

const EARLIEST = ['queuedAt', 'submittedAt', 'finalAt'] as const;

/** Same rules as the stores' upsert: rank decides status, earliest time wins, later fields fill in. */
export function mergePatches(a: MessagePatch, b: MessagePatch): MessagePatch {
  const merged: MessagePatch = { ...a };
  for (const [key, value] of Object.entries(b)) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  merged.status = advance(a.status, b.status);
  merged.updatedAt = Math.max(a.updatedAt, b.updatedAt);
  // A provider may bill more parts than we counted; the larger count wins whatever the order.
  if (a.segments !== undefined && b.segments !== undefined)
    merged.segments = Math.max(a.segments, b.segments);
  for (const key of EARLIEST) {
    const values = [a[key], b[key]].filter((v): v is number => v !== undefined);
    if (values.length > 0) merged[key] = Math.min(...values);
  }
  return merged;
}

function historyRow(event: PigeonEvent): MessageEventRecord {
  let provider: string | null = null;
  let providerMessageId: string | null = null;
  let detail: Record<string, unknown> | null = null;
  switch (event.type) {
    case 'message.requested':
      detail = { class: event.class, lane: event.lane, segments: event.segments };
      break;
    case 'message.submitted':
      provider = event.provider;
      providerMessageId = event.providerMessageId;
      detail = {
        attempt: event.attempt,
        segments: event.segments,
        cost: event.cost,
        latencyMs: event.latencyMs,
      };
      break;
    case 'message.failed':
      provider = event.provider ?? null;
      detail = {
        attempt: event.attempt,
        errorClass: event.errorClass,
        errorCode: event.errorCode,
        reason: event.reason,
      };
      break;
    case 'receipt.received':
      provider = event.provider;
      providerMessageId = event.providerMessageId;
      detail = { providerStatus: event.providerStatus, doneAt: event.doneAt ?? null };
      break;
  }
  return {
    eventId: event.id,
    messageId: event.messageId,
    tenantId: event.tenantId,
    type: event.type,
    status: statusOf(event),
    provider,
    providerMessageId,
    detail: detail ? JSON.stringify(detail) : null,
    occurredAt: Date.parse(event.occurredAt),
  };
}
