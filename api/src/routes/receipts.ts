import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { Bus } from '../../../core/bus/bus.ts';
import type { Cache } from '../../../core/cache/cache.ts';
import { PigeonError } from '../../../core/errors.ts';
import { Topics } from '../../../core/topics.ts';
import type { InboundHttpRequest, ProviderAdapter } from '../../../providers/provider.ts';
import { matchReceipts } from '../../../routing/receipt-matcher.ts';

/** Finds the adapter that owns a receipt webhook. */
export interface ProviderLookup {
  get(name: string): ProviderAdapter | undefined;
}

/**
 * A provider's webhook call as its adapter verifies it: the raw body (signatures cover the bytes)
 * and the URL the provider called, which its signature also covers.
 */
export function providerRequest(request: FastifyRequest, publicUrl: string): InboundHttpRequest {
  return {
    method: request.method,
    url: request.url,
    fullUrl: `${publicUrl}${request.url}`,
    headers: request.headers,
    rawBody: typeof request.body === 'string' ? request.body : '',
  };
}

export interface ReceiptRoutesDeps {
  providers: ProviderLookup;
  bus: Bus;
  cache: Cache;
  registry: Registry;
  /** PIGEON_PUBLIC_URL: the origin providers call, which their signatures cover. */
  publicUrl: string;
}

/**
 * `POST /v1/receipts/:provider`: delivery receipts from providers. The adapter checks the
 * signature over the raw body and normalises the status; the receipt is matched to a message that
 * provider carried (by its message id, or by the client reference if the message was handed to
 * it) and published. The provider gets its 2xx only after the bus acknowledged, so a receipt is
 * never lost: on failure it retries. A valid signature proves only who sent the receipt, so one
 * that matches nothing that provider carried is acknowledged, counted as unmatched and dropped.
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

  const handler = async (request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply) => {
    const providerName = request.params.provider;
    const adapter = deps.providers.get(providerName);
    if (!adapter) throw new PigeonError('PIGEON_ERR_UNKNOWN_PROVIDER', `No provider named "${providerName}"`);
    let parsed: Awaited<ReturnType<ProviderAdapter['parseReceipt']>>;
    try {
      parsed = await adapter.parseReceipt(providerRequest(request, deps.publicUrl));
    } catch (err) {
      received.inc({ provider: providerName, result: 'refused' });
      throw err;
    }
    const { events, unmatched } = await matchReceipts(providerName, parsed, deps.cache);
    if (unmatched > 0) {
      received.inc({ provider: providerName, result: 'unmatched' }, unmatched);
      request.log.warn({ provider: providerName, unmatched }, 'receipt.unmatched');
    }
    if (events.length > 0) {
      await deps.bus.publish(
        Topics.receipts,
        events.map((e) => ({ key: e.messageId, value: JSON.stringify(e) })),
      );
    }
    if (events.length > 0) received.inc({ provider: providerName, result: 'accepted' }, events.length);
    if (adapter.receiptAck) {
      return reply.code(200).type(adapter.receiptAck.contentType).send(adapter.receiptAck.body);
    }
    return reply.code(200).send({ received: events.length });
  };
  // Most providers POST; some (Vonage, when configured so) send receipts as GET query strings.
  const schema = { summary: 'Delivery receipt webhook for a provider', tags: ['receipts'] };
  app.post('/v1/receipts/:provider', { schema }, handler);
  app.get('/v1/receipts/:provider', { schema }, handler);
}
