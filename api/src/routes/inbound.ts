import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PigeonError } from '../../../core/errors.ts';
import type { InboundSms } from '../../../providers/provider.ts';
import type { InboundIntake } from '../inbound/intake.ts';
import { type ProviderLookup, providerRequest } from './receipts.ts';

export interface InboundRoutesDeps {
  providers: ProviderLookup;
  /** PIGEON_PUBLIC_URL: the origin providers call, which their signatures cover. */
  publicUrl: string;
  intake: InboundIntake;
}

/**
 * `POST /v1/inbound/:provider`: SMS sent to our numbers, as the provider's inbound webhook posts
 * them. The adapter verifies the signature. A reply "ACK <code>" from a number the incident or
 * page went to acknowledges it; anything else is counted and logged (number masked). The provider
 * always gets its 2xx once the signature holds, so it does not retry a reply that named nothing.
 * Bodies stay raw strings in this plugin, for the signature checks.
 */
export async function inboundRoutes(app: FastifyInstance, deps: InboundRoutesDeps) {
  // Signatures are computed over the exact bytes the provider sent (as in receipts.ts).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_req, body, done) =>
    done(null, body),
  );

  app.post(
    '/v1/inbound/:provider',
    { schema: { summary: 'Inbound SMS webhook for a provider', tags: ['receipts'] } },
    async (request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply) => {
      const providerName = request.params.provider;
      const adapter = deps.providers.get(providerName);
      if (!adapter)
        throw new PigeonError('PIGEON_ERR_UNKNOWN_PROVIDER', `No provider named "${providerName}"`);
      if (!adapter.parseInbound) {
        throw new PigeonError('PIGEON_ERR_UNKNOWN_PROVIDER', `Provider "${providerName}" has no inbound SMS`);
      }
      let messages: InboundSms[];
      try {
        messages = await adapter.parseInbound(providerRequest(request, deps.publicUrl));
      } catch (err) {
        deps.intake.refused(providerName);
        throw err;
      }
      for (const sms of messages) await deps.intake.handle(providerName, sms, request.log);
      if (adapter.receiptAck) {
        return reply.code(200).type(adapter.receiptAck.contentType).send(adapter.receiptAck.body);
      }
      return reply.code(200).send({ received: messages.length });
    },
  );
}
