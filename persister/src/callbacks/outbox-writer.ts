import { Counter, type Registry } from 'prom-client';
import type { PigeonEvent } from '../../../core/message.ts';
import {
  type CallbackDelivery,
  type CallbackTarget,
  pendingDelivery,
  type WebhookRecord,
} from '../../../core/store/kinds/callbacks.ts';
import type { Store } from '../../../core/store/store.ts';
import { callbackFor, type StatusCallback, withClientReference } from './payload.ts';

export interface OutboxWriterOptions {
  store: Store;
  registry: Registry;
  /** Status changes older than this when read are not called back (PIGEON_CALLBACK_MAX_AGE_HOURS). */
  maxAgeMs: number;
  now?: () => number;
}

/** Writes the status callbacks of a batch of events to the outbox; see outboxWriter. */
export type OutboxWriter = (events: readonly PigeonEvent[]) => Promise<void>;

/** How long a tenant's webhook is remembered between batches; a change applies within this. */
const WEBHOOK_TTL_MS = 5_000;

/**
 * Turns status events (outcomes and receipts: other events have no callback, and the persister
 * drops a receipt that belongs to nobody before it gets here) into rows of the callback outbox.
 * It only writes to the database — the HTTP calls are the delivery worker's — so a slow or dead
 * customer endpoint never holds up consumption. The persister calls it for each batch after
 * writing the batch and before committing its offsets, and retries both together while the
 * database is away; a row's id is its event's, so a crash or replay delivers every callback at
 * least once and adds none twice. Each event is read from Kafka and decoded once.
 *
 * The destination is decided here when the message's request is already stored (its own
 * `statusCallback`, else the tenant's webhook). When it is not yet — a receipt overtook its
 * request, or the request's lane is behind — the row is written unresolved and the worker
 * resolves it once the request is stored.
 */
export function outboxWriter(options: OutboxWriterOptions): OutboxWriter {
  const { store, registry } = options;
  const now = options.now ?? Date.now;
  const enqueued = new Counter({
    name: 'pigeon_callbacks_enqueued_total',
    help: 'Status callbacks written to the outbox (destination resolved or unresolved yet), or not: too_old',
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

  const deliveriesFor = async (events: readonly PigeonEvent[]): Promise<CallbackDelivery[]> => {
    const at = now();
    const callbacks: Array<{ event: PigeonEvent; callback: StatusCallback; createdAt: number }> = [];
    for (const event of events) {
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

  return async (events) => {
    const deliveries = await deliveriesFor(events);
    if (deliveries.length === 0) return;
    await store.enqueueCallbacks(deliveries);
    for (const d of deliveries) enqueued.inc({ destination: d.url === null ? 'unresolved' : 'resolved' });
  };
}
