import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Cache } from '../../../core/cache/cache.ts';
import { PigeonError } from '../../../core/errors.ts';
import { parseE164 } from '../../../core/phone.ts';
import { type OutboxEntry, outboxKey } from '../../../supplier-bridge/providers/simulator.ts';

/**
 * `GET /simulator/messages?to=…`: what the simulated providers "delivered" to a number, newest
 * first. Registered only when the simulator is enabled; it shows message text, so it never
 * exists in a deployment with real providers.
 */
export async function simulatorRoutes(app: FastifyInstance, deps: { cache: Cache }) {
  app.get<{ Querystring: { to: string } }>(
    '/simulator/messages',
    {
      schema: {
        summary: 'Outbox of the simulated providers (test deployments only)',
        tags: ['simulator'],
        querystring: Type.Object({ to: Type.String() }),
      },
    },
    async (request) => {
      const recipient = parseE164(request.query.to);
      if (!recipient) throw new PigeonError('PIGEON_ERR_INVALID_NUMBER', '"to" must be E.164');
      const entries = await deps.cache.list(outboxKey(recipient.e164));
      return { messages: entries.map((e) => JSON.parse(e) as OutboxEntry) };
    },
  );
}
