import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import type { Bus, ConsumedBatch, Subscription } from '../../../core/bus/bus.ts';
import { decodeEvent, EventDecodeError } from '../../../core/events.ts';
import type { Logger } from '../../../core/logger.ts';
import type { PigeonEvent } from '../../../core/message.ts';
import { Backoff, exponentialBackoff, isRetriable } from '../../../core/retry.ts';
import {
  type CallbackDelivery,
  type CallbackTarget,
  pendingDelivery,
  type WebhookRecord,
} from '../../../core/store/kinds/callbacks.ts';
import type { Store } from '../../../core/store/store.ts';
import { Topics } from '../../../core/topics.ts';
import { STORE_OUTAGE_BACKOFF } from '../store-backoff.ts';
import { isOrphanReceipt } from '../fold.ts';
import { callbackFor, type StatusCallback, withClientReference } from './payload.ts';
import { CallbackEvents } from '../events.ts';

/** Status events: what the bridge decided (outcomes) and what carriers reported (receipts). */
export const CALLBACK_TOPICS = [Topics.outcomes, Topics.receipts];

export interface OutboxWriterOptions {
  bus: Bus;
  store: Store;
  logger: Logger;
  registry: Registry;
  groupId: string;
  /** The status topics (default CALLBACK_TOPICS). */
  topics?: readonly string[];
  /** Status changes older than this when read are not called back (PIGEON_CALLBACK_MAX_AGE_HOURS). */
  maxAgeMs: number;
  now?: () => number;
  /** Backoff while the database is unavailable (default STORE_OUTAGE_BACKOFF). */
  retry?: { initialMs?: number; maxMs?: number };
}

/** How long a tenant's webhook is remembered between batches; a change applies within this. */
const WEBHOOK_TTL_MS = 5_000;

/**
 * Turns status events into rows of the callback outbox. It only writes to the database — the
 * HTTP calls are the delivery worker's — so a slow or dead customer endpoint never holds up
 * consumption. Each batch's rows are written before its offsets commit, and a row's id is its
 * event's, so a crash or replay delivers every callback at least once and adds none twice.
 *
 * The destination is decided here when the message's request is already stored (its own
 * `statusCallback`, else the tenant's webhook). When it is not yet — the persister has not caught
 * up with the lane, or a receipt overtook its request — the row is written unresolved and the
 * worker resolves it once the request is stored.
 */
export async function startOutboxWriter(options: OutboxWriterOptions): Promise<Subscription> {
  const { bus, store, logger, registry } = options;
  const now = options.now ?? Date.now;
  const outageBackoff = exponentialBackoff({ ...options.retry }, STORE_OUTAGE_BACKOFF);
  const enqueued = new Counter({
    name: 'pigeon_callbacks_enqueued_total',
    help: 'Status callbacks written to the outbox (destination resolved or unresolved yet), or not: too_old, orphan_receipt',
    labelNames: ['destination'],
    registers: [registry],
  });

  const webhooks = new Map<string, { webhook: WebhookRecord | undefined; until: number }>();
  const webhookOf = async (tenantId: string): Promise<WebhookRecord | undefined> => {
    const at = Date.now();
    const cached = webhooks.get(tenantId);
    if (cached && cached.until > at) return cached.webhook;
    const webhook = await store.getWebhook(tenantId);
    if (webhooks.size > 10_000) webhooks.clear();
    webhooks.set(tenantId, { webhook, until: at + WEBHOOK_TTL_MS });
    return webhook;
  };

  const deliveriesFor = async (events: PigeonEvent[]): Promise<CallbackDelivery[]> => {
    const at = now();
    const callbacks: Array<{ event: PigeonEvent; callback: StatusCallback; createdAt: number }> = [];
    for (const event of events) {
      // Nobody's message: the persister drops it unwritten, and nobody is called back about it.
      if (isOrphanReceipt(event)) {
        enqueued.inc({ destination: 'orphan_receipt' });
        continue;
      }
      const callback = callbackFor(event);
      if (!callback) continue;
      // The retry window runs from the status change, not from when it was read: an outbox writer
      // catching up after an outage leaves less time, and a new consumer group replaying the
      // topics' history does not call customers back about last week.
      const occurred = Date.parse(event.occurredAt);
      const createdAt = Number.isFinite(occurred) ? Math.min(at, occurred) : at;
      if (at - createdAt >= options.maxAgeMs) {
        enqueued.inc({ destination: 'too_old' });
        continue;
      }
      // A tenant without a webhook record has no signing secret, and the API refuses a
      // statusCallback without one: none of its messages has a destination, so its events need
      // no read of their message (two primary-key reads per message sent, otherwise).
      if (event.tenantId && !(await webhookOf(event.tenantId))) continue;
      callbacks.push({ event, callback, createdAt });
    }
    if (callbacks.length === 0) return [];
    const targets = new Map<string, CallbackTarget>();
    for (const target of await store.callbackTargets([...new Set(callbacks.map((c) => c.event.messageId))])) {
      targets.set(target.messageId, target);
    }
    const deliveries: CallbackDelivery[] = [];
    for (const { event, callback, createdAt } of callbacks) {
      const target = targets.get(event.messageId);
      const tenantId = target?.tenantId || event.tenantId;
      const webhook = tenantId ? await webhookOf(tenantId) : undefined;
      if (tenantId && !webhook) continue;
      let url: string | null = null;
      if (target?.requested) {
        url = target.statusCallback ?? webhook?.url ?? null;
        if (url === null) continue;
      }
      deliveries.push(
        pendingDelivery(
          {
            id: event.id,
            tenantId,
            messageId: event.messageId,
            url,
            payload: JSON.stringify(target?.requested ? withClientReference(callback, target) : callback),
          },
          at,
          createdAt,
        ),
      );
    }
    return deliveries;
  };

  const handle = async (batch: ConsumedBatch) => {
    const events: PigeonEvent[] = [];
    for (const record of batch.records) {
      try {
        events.push(decodeEvent(record.value));
      } catch (err) {
        // The persister dead-letters malformed events; here they are only not a status change.
        if (!(err instanceof EventDecodeError)) throw err;
      }
    }
    const backoff = new Backoff(outageBackoff);
    for (;;) {
      try {
        const deliveries = await deliveriesFor(events);
        await store.enqueueCallbacks(deliveries);
        for (const d of deliveries) enqueued.inc({ destination: d.url === null ? 'unresolved' : 'resolved' });
        return;
      } catch (err) {
        // Holding the position while the database is away loses nothing: the offsets stay put.
        if (!isRetriable(err) || batch.isStale()) throw err;
        logger.warn({ err: (err as Error).message }, CallbackEvents.databaseUnavailable);
        await sleep(backoff.next());
        await batch.heartbeat().catch(() => undefined);
      }
    }
  };

  return bus.subscribe({
    groupId: options.groupId,
    topics: options.topics ?? CALLBACK_TOPICS,
    // A customer's callback a second later at light load is within what a webhook promises; a
    // 200 ms poll costs the broker five requests a second from every persister, traffic or not.
    fetch: 'relaxed',
    handler: handle,
  });
}
