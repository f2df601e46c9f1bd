import type { FastifyInstance } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { Bus } from '../../../core/bus/bus.ts';
import type { Cache } from '../../../core/cache/cache.ts';
import { PigeonError } from '../../../core/errors.ts';
import { eventBase } from '../../../core/events.ts';
import { Markers } from '../../../core/markers.ts';
import type { ReceiptReceived } from '../../../core/message.ts';
import { Topics } from '../../../core/topics.ts';
import type { ProviderAdapter } from '../../../supplier-bridge/providers/provider.ts';

export interface ReceiptRoutesDeps {
  providers: ReadonlyMap<string, ProviderAdapter>;
  bus: Bus;
  cache: Cache;
  registry: Registry;
}

/**
 * `POST /v1/receipts/:provider`: delivery receipts from providers. The adapter checks the
 * signature over the raw body and normalises the status; the receipt is matched to its message
 * (by client reference or by the provider's message id) and published. The provider gets its
 * 2xx only after the bus acknowledged, so a receipt is never lost: on failure it retries.
 */
export async function receiptRoutes(app: FastifyInstance, deps: ReceiptRoutesDeps) {
  const received = new Counter({
    name: 'pigeon_api_receipts_total',
    help: 'Delivery receipts received, by provider and outcome',
    labelNames: ['provider', 'result'],
    registers: [deps.registry],
  });

  // Signatures are computed over the exact bytes the provider sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_req, body, done) =>
    done(null, body),
  );

  app.post<{ Params: { provider: string } }>(
    '/v1/receipts/:provider',
    { schema: { summary: 'Delivery receipt webhook for a provider', tags: ['receipts'] } },
    async (request, reply) => {
      const providerName = request.params.provider;
      const adapter = deps.providers.get(providerName);
      if (!adapter)
        throw new PigeonError('PIGEON_ERR_UNKNOWN_PROVIDER', `No provider named "${providerName}"`);
      let parsed: ReturnType<ProviderAdapter['parseReceipt']>;
      try {
        parsed = adapter.parseReceipt({
          method: request.method,
          url: request.url,
          headers: request.headers,
          rawBody: typeof request.body === 'string' ? request.body : '',
        });
      } catch (err) {
        received.inc({ provider: providerName, result: 'refused' });
        throw err;
      }
      const events: ReceiptReceived[] = [];
      for (const receipt of parsed) {
        const mapped = await deps.cache.get(Markers.providerMessage(providerName, receipt.providerMessageId));
        const match = mapped ? (JSON.parse(mapped) as { messageId: string; tenantId: string }) : undefined;
        const messageId = match?.messageId ?? receipt.reference;
        if (!messageId) {
          // Unknown to us (expired mapping, or another system's message): acknowledge, never retry forever.
          received.inc({ provider: providerName, result: 'unmatched' });
          request.log.warn({ provider: providerName }, 'receipt.unmatched');
          continue;
        }
        const event: ReceiptReceived = {
          ...eventBase(messageId, match?.tenantId ?? ''),
          type: 'receipt.received',
          provider: providerName,
          providerMessageId: receipt.providerMessageId,
          status: receipt.status,
          providerStatus: receipt.providerStatus,
        };
        if (receipt.doneAt) event.doneAt = receipt.doneAt;
        events.push(event);
      }
      if (events.length > 0) {
        await deps.bus.publish(
          Topics.receipts,
          events.map((e) => ({ key: e.messageId, value: JSON.stringify(e) })),
        );
      }
      for (const _ of events) received.inc({ provider: providerName, result: 'accepted' });
      return reply.code(200).send({ received: events.length });
    },
  );
}
