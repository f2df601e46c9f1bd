import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Cache } from '../../../core/cache/cache.ts';
import { PigeonError } from '../../../core/errors.ts';
import { requireE164 } from '../../../core/phone.ts';
import {
  type OutboxEntry,
  outboxKey,
  SIMULATOR_FAULT_MODES,
  type SimulatorFault,
  simulatorFaultKey,
  SimulatorProvider,
} from '../../../providers/simulator.ts';
import type { ProviderLookup } from './receipts.ts';
import { Problem } from '../schemas.ts';

const PROVIDER_NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const ProviderParams = Type.Object({
  name: Type.String({ pattern: PROVIDER_NAME, description: 'Simulated provider' }),
});

const FaultBody = Type.Object(
  {
    fault: Type.Enum(SIMULATOR_FAULT_MODES, {
      description: 'down, slow, throttle, ambiguous, silent, reject; none suspends a scripted fault',
    }),
    forMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'For good when absent' }),
    ),
    slowMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
    retryAfterMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);

/** What a caller without a key, or with one lacking the scope, gets. */
const Refusals = { 401: Problem, 403: Problem };

const FaultView = Type.Object({
  provider: Type.String(),
  fault: Type.String(),
  slowMs: Type.Optional(Type.Integer()),
  retryAfterMs: Type.Optional(Type.Integer()),
  until: Type.Optional(Type.Integer({ description: 'Epoch ms when the fault ends' })),
});

/**
 * `GET /simulator/messages?to=…`: what the simulated providers "delivered" to a number, newest
 * first. `PUT|DELETE /simulator/providers/:name/fault`: makes a simulated provider fail, through
 * the cache so the simulator in whichever bridge process serves it picks the fault up.
 * `POST /simulator/replies`: someone texts one of our numbers; the simulated provider posts it,
 * signed, to the gateway's `/v1/inbound/{provider}` as a real provider would.
 * Registered only when the simulator is enabled, and only for keys with the `simulator` scope
 * (or `admin`), embedded mode included: the outbox shows message text (codes, page ids), faults
 * stop providers and replies can acknowledge pages.
 */
export async function simulatorRoutes(
  fastify: FastifyInstance,
  deps: { cache: Cache; providers?: ProviderLookup; publicUrl?: string },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.addHook('onRequest', app.requireScope('simulator'));
  app.get(
    '/simulator/messages',
    {
      schema: {
        summary: 'Outbox of the simulated providers (test deployments only)',
        tags: ['simulator'],
        querystring: Type.Object({ to: Type.String() }),
      },
    },
    async (request) => {
      const recipient = requireE164(request.query.to, 'to');
      const entries = await deps.cache.list(outboxKey(recipient.e164));
      return { messages: entries.map((e) => JSON.parse(e) as OutboxEntry) };
    },
  );

  app.put(
    '/simulator/providers/:name/fault',
    {
      schema: {
        summary: 'Make a simulated provider fail (test deployments only)',
        tags: ['simulator'],
        params: ProviderParams,
        body: FaultBody,
        response: { 200: FaultView, 400: Problem, 503: Problem, ...Refusals },
      },
    },
    async (request) => {
      const { fault, forMs, slowMs, retryAfterMs } = request.body;
      const stored: SimulatorFault = { fault };
      if (slowMs !== undefined) stored.slowMs = slowMs;
      if (retryAfterMs !== undefined) stored.retryAfterMs = retryAfterMs;
      // `until` as well as the ttl: a simulator holds its last read for a moment after the key expires.
      if (forMs !== undefined) stored.until = Date.now() + forMs;
      await deps.cache.set(
        simulatorFaultKey(request.params.name),
        JSON.stringify(stored),
        forMs === undefined ? {} : { ttlMs: forMs },
      );
      return { provider: request.params.name, ...stored };
    },
  );

  app.delete(
    '/simulator/providers/:name/fault',
    {
      schema: {
        summary: 'Clear a simulated provider’s runtime fault (its scripted faults apply again)',
        tags: ['simulator'],
        params: ProviderParams,
        response: { 204: Type.Null(), 400: Problem, 503: Problem, ...Refusals },
      },
    },
    async (request, reply) => {
      await deps.cache.del(simulatorFaultKey(request.params.name));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/simulator/replies',
    {
      schema: {
        summary: 'Simulate an SMS sent to one of our numbers, e.g. "ACK 4821" (test deployments only)',
        tags: ['simulator'],
        body: Type.Object(
          {
            provider: Type.String({ pattern: PROVIDER_NAME }),
            from: Type.String({ description: 'Sender, E.164' }),
            to: Type.String({ description: 'Our number, E.164' }),
            body: Type.String({ minLength: 1, maxLength: 1600 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ status: Type.Integer() }), 400: Problem, 404: Problem, ...Refusals },
      },
    },
    async (request) => {
      const { provider, from, to, body } = request.body;
      const sender = requireE164(from, 'from');
      requireE164(to, 'to');
      const adapter = deps.providers?.get(provider);
      if (!(adapter instanceof SimulatorProvider)) {
        throw new PigeonError('PIGEON_ERR_UNKNOWN_PROVIDER', `No simulated provider named "${provider}"`);
      }
      const url = `${deps.publicUrl ?? 'http://127.0.0.1'}/v1/inbound/${encodeURIComponent(provider)}`;
      return { status: await adapter.simulateInbound(url, { from: sender.e164, to, body }) };
    },
  );
}
