import { type PigeonEvent, statusOf } from '../../core/message.ts';
import { advance, STATUS_RANK } from '../../core/status-machine.ts';
import type {
  AttemptRecord,
  MessageEventRecord,
  MessagePatch,
  WriteBatch,
} from '../../core/store/kinds/messages.ts';

/**
 * A receipt event naming no tenant: the receipt matcher gives every receipt its message's tenant,
 * so this is one it could not have matched (an older API's, or a forgery on the topic). Applying
 * it would create a message row that belongs to nobody and call back about it.
 */
export function isOrphanReceipt(event: PigeonEvent): boolean {
  return event.type === 'receipt.received' && !event.tenantId;
}

/**
 * Folds a batch of events into one patch per message, one history row per event and one attempt
 * row per provider call. Pure, so the persister's idempotence and order-independence can be
 * tested without a database.
 */
export function foldEvents(events: readonly PigeonEvent[]): WriteBatch & { attempts: AttemptRecord[] } {
  const patches = new Map<string, MessagePatch>();
  const rows: MessageEventRecord[] = [];
  const attempts = new Map<string, AttemptRecord>();
  for (const event of events) {
    const patch = patchFor(event);
    const existing = patches.get(patch.id);
    patches.set(patch.id, existing ? mergePatches(existing, patch) : patch);
    rows.push(historyRow(event));
    const attempt = attemptRow(event);
    if (attempt) {
      const key = `${attempt.messageId}:${attempt.attempt}`;
      const seen = attempts.get(key);
      // The stores' rule: of two reports of one attempt, the larger event id wins.
      if (!seen || attempt.eventId > seen.eventId) attempts.set(key, attempt);
    }
  }
  return { messages: [...patches.values()], events: rows, attempts: [...attempts.values()] };
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
        ...(event.statusCallback ? { statusCallback: event.statusCallback } : {}),
        ...(event.clientRef === undefined ? {} : { clientRef: event.clientRef }),
        ...(event.metadata === undefined ? {} : { metadata: event.metadata }),
        ...(event.campaignId === undefined ? {} : { campaignId: event.campaignId }),
      });
      break;
    case 'message.submitted':
      Object.assign(patch, {
        provider: event.provider,
        providerMessageId: event.providerMessageId,
        attempt: event.attempt,
        segments: event.segments,
        cost: event.cost,
        submittedAt: at,
      });
      break;
    case 'message.failed':
      patch.errorCode = event.errorCode;
      patch.finalAt = at;
      if (event.provider) {
        patch.provider = event.provider;
        patch.attempt = event.attempt;
      }
      break;
    case 'attempt.failed':
    case 'message.held':
      // Only a history row (and an attempt row for a call): the message's status and provider
      // pair are the pass outcome's to set.
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

/**
 * Same rules as the stores' upsert (MessagePatch in core/store/store.ts): rank decides status and
 * error code, the highest attempt the provider pair, earliest time wins, the rest fill in.
 */
export function mergePatches(a: MessagePatch, b: MessagePatch): MessagePatch {
  // Written without Object.entries or arrays of candidates: a message's events meet in one write
  // more often than not, and the allocations were most of the fold's time.
  const merged: MessagePatch = { ...a };
  for (const key in b) {
    const value = b[key as keyof MessagePatch];
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  merged.status = advance(a.status, b.status);
  merged.updatedAt = Math.max(a.updatedAt, b.updatedAt);
  // A provider may bill more parts than we counted, and only one attempt is billed (failover
  // copies cost 0): the larger value wins whatever the order.
  if (a.segments !== undefined && b.segments !== undefined)
    merged.segments = Math.max(a.segments, b.segments);
  if (a.cost !== undefined && b.cost !== undefined) merged.cost = Math.max(a.cost, b.cost);
  setOrDelete(merged, 'errorCode', errorCodeOf(a, b));
  const pair = laterAttempt(a, b) ? b : a;
  setOrDelete(merged, 'provider', pair.provider);
  setOrDelete(merged, 'providerMessageId', pair.providerMessageId);
  setOrDelete(merged, 'attempt', either(a.attempt, b.attempt, Math.max));
  for (const key of EARLIEST) {
    const value = either(a[key], b[key], Math.min);
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/** Of two optional numbers, the one given, or `pick` of both. */
function either(
  x: number | undefined,
  y: number | undefined,
  pick: (x: number, y: number) => number,
): number | undefined {
  if (x === undefined) return y;
  return y === undefined ? x : pick(x, y);
}

/** The error code of the higher status; of two equal ones, the larger code. */
function errorCodeOf(a: MessagePatch, b: MessagePatch): string | undefined {
  const rankA = STATUS_RANK[a.status];
  const rankB = STATUS_RANK[b.status];
  if (rankA !== rankB) return rankA > rankB ? a.errorCode : b.errorCode;
  if (a.errorCode === undefined || b.errorCode === undefined) return a.errorCode ?? b.errorCode;
  return a.errorCode > b.errorCode ? a.errorCode : b.errorCode;
}

/**
 * Whether b's provider pair replaces a's: a later attempt does (a receipt ranks as attempt 0);
 * between equal ranks the larger pair, so the result never depends on which came first.
 */
function laterAttempt(a: MessagePatch, b: MessagePatch): boolean {
  if (b.provider === undefined) return false;
  if (a.provider === undefined) return true;
  const rankA = a.attempt ?? 0;
  const rankB = b.attempt ?? 0;
  if (rankA !== rankB) return rankB > rankA;
  if (a.provider !== b.provider) return b.provider > a.provider;
  return (b.providerMessageId ?? '') > (a.providerMessageId ?? '');
}

function setOrDelete<K extends keyof MessagePatch>(patch: MessagePatch, key: K, value: MessagePatch[K]) {
  if (value === undefined) delete patch[key];
  else patch[key] = value;
}

/** The attempt record of a provider call, for the events that report one. */
function attemptRow(event: PigeonEvent): AttemptRecord | undefined {
  const call = (provider: string, attempt: number, country: string | undefined) => ({
    messageId: event.messageId,
    attempt,
    tenantId: event.tenantId,
    eventId: event.id,
    provider,
    country: country ?? null,
  });
  /** A call that did not take the message: nothing of the provider's, nothing billed. */
  const refusal = (
    provider: string,
    attempt: number,
    failure: { country?: string | undefined; errorClass: string; errorCode: string },
    outcome: AttemptRecord['outcome'],
    times: { requestedAt: number | null; respondedAt: number },
  ): AttemptRecord => ({
    ...call(provider, attempt, failure.country),
    providerMessageId: null,
    outcome,
    errorClass: failure.errorClass,
    errorCode: failure.errorCode,
    failover: null,
    segments: null,
    cost: null,
    ...times,
  });
  switch (event.type) {
    case 'message.submitted':
      return {
        ...call(event.provider, event.attempt, event.country),
        providerMessageId: event.providerMessageId,
        outcome: 'submitted',
        errorClass: null,
        errorCode: null,
        failover: event.failover ?? null,
        segments: event.segments,
        cost: event.cost,
        requestedAt: event.requestedAt === undefined ? null : Date.parse(event.requestedAt),
        // latencyMs is measured from the start of the call; occurredAt comes a little later.
        respondedAt:
          event.requestedAt === undefined
            ? Date.parse(event.occurredAt)
            : Math.round(Date.parse(event.requestedAt) + event.latencyMs),
      };
    case 'attempt.failed': {
      const requestedAt = Date.parse(event.requestedAt);
      // A call that may have reached the provider before it timed out stays `unknown`.
      return refusal(event.provider, event.attempt, event, event.sent === 'maybe' ? 'unknown' : 'failed', {
        requestedAt,
        respondedAt: Math.round(requestedAt + event.latencyMs),
      });
    }
    case 'message.failed':
      // A failure no provider was asked about (expired, refused before sending) is no attempt.
      if (!event.provider || event.attempt < 1 || event.status === 'skipped') return undefined;
      return refusal(event.provider, event.attempt, event, event.status, {
        requestedAt: event.requestedAt === undefined ? null : Date.parse(event.requestedAt),
        respondedAt: Date.parse(event.occurredAt),
      });
    default:
      return undefined;
  }
}

function failureDetail(event: {
  attempt: number;
  errorClass: string;
  errorCode: string;
  reason: string;
}): Record<string, unknown> {
  return {
    attempt: event.attempt,
    errorClass: event.errorClass,
    errorCode: event.errorCode,
    reason: event.reason,
  };
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
        ...(event.failover ? { failover: event.failover } : {}),
      };
      break;
    case 'message.failed':
      provider = event.provider ?? null;
      detail = failureDetail(event);
      break;
    case 'attempt.failed':
      provider = event.provider;
      detail = { ...failureDetail(event), sent: event.sent, latencyMs: event.latencyMs };
      break;
    case 'receipt.received':
      provider = event.provider;
      providerMessageId = event.providerMessageId;
      detail = { providerStatus: event.providerStatus, doneAt: event.doneAt ?? null };
      break;
    case 'message.held':
      detail = { reason: event.reason, notBefore: event.notBefore, timeZone: event.timeZone };
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
