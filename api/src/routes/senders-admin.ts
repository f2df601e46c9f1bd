import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { requireSenderId } from '../../../core/sender-id.ts';
import type { SenderRecord } from '../../../core/store/kinds/senders.ts';
import type { Store } from '../../../core/store/store.ts';
import { Problem } from '../schemas.ts';
import { SenderDirectory } from '../senders.ts';
import { ADMIN_BODY_LIMIT } from './admin.ts';

export interface SenderAdminRoutesDeps {
  store: Store;
  /** The send paths' view of the registry, told of every write; default: the store's shared one. */
  senders?: SenderDirectory;
  now?: () => number;
}

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 413: Problem, 503: Problem };

const TenantId = Type.String({ minLength: 1, maxLength: 64, description: "Default: the API key's tenant" });
const Countries = Type.Array(
  Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2, e.g. GB' }),
  {
    maxItems: 250,
    uniqueItems: true,
    description: 'Where this sender may be used; empty or absent: any country',
  },
);

const SenderBody = Type.Object(
  {
    tenantId: Type.Optional(TenantId),
    countries: Type.Optional(Countries),
    default: Type.Optional(
      Type.Boolean({
        description:
          'The tenant’s default sender for its countries (for any country when it names none), used when a message has no `from`',
      }),
    ),
  },
  { additionalProperties: false },
);
const SenderView = Type.Object({
  tenantId: Type.String(),
  sender: Type.String(),
  kind: Type.Union([Type.Literal('alphanumeric'), Type.Literal('number'), Type.Literal('short_code')]),
  countries: Type.Array(Type.String()),
  default: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const SenderParams = Type.Object({ sender: Type.String({ minLength: 1, maxLength: 20 }) });
const TenantQuery = Type.Object({ tenantId: Type.Optional(TenantId) }, { additionalProperties: false });

function view(record: SenderRecord) {
  return {
    tenantId: record.tenantId,
    sender: record.sender,
    kind: record.kind,
    countries: record.countries,
    default: record.isDefault,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}

/**
 * `/v1/admin/senders`: each tenant's registered sender ids and numbers. A tenant with registered
 * senders may send only from them; without `from` it gets its default for the destination
 * country, or a number of its pool, the same one for the same recipient (core/sender-choice.ts).
 * Needs the `admin` scope, the operator's: it reaches every tenant, the key's own by default.
 */
export async function senderAdminRoutes(fastify: FastifyInstance, deps: SenderAdminRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  const directory = deps.senders ?? SenderDirectory.for(deps.store);
  app.addHook('onRequest', app.requireScope('admin'));

  app.get(
    '/v1/admin/senders',
    {
      schema: {
        summary: "A tenant's registered senders",
        tags: ['admin'],
        querystring: TenantQuery,
        response: { 200: Type.Object({ senders: Type.Array(SenderView) }), ...errorResponses },
      },
    },
    async (request) => {
      const tenantId = request.query.tenantId ?? request.principal.tenantId;
      return { senders: (await deps.store.listSenders(tenantId)).map(view) };
    },
  );

  app.put(
    '/v1/admin/senders/:sender',
    {
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        summary: 'Register a sender for a tenant, or replace its countries and default flag',
        description:
          'The sender is an alphanumeric id (1–11 of A–Z a–z 0–9 space . - _, at least one letter), an E.164 number or a 3–8 digit short code; URL-encode it in the path.',
        tags: ['admin'],
        params: SenderParams,
        body: SenderBody,
        response: { 200: SenderView, 201: SenderView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const tenantId = request.body.tenantId ?? request.principal.tenantId;
      const sender = requireSenderId(request.params.sender, 'sender');
      const stored = (await deps.store.listSenders(tenantId)).find((s) => s.sender === sender.value);
      const at = now();
      const record: SenderRecord = {
        tenantId,
        sender: sender.value,
        kind: sender.kind,
        countries: [...(request.body.countries ?? [])].sort(),
        isDefault: request.body.default ?? false,
        createdAt: stored?.createdAt ?? at,
        updatedAt: at,
      };
      await deps.store.putSender(record);
      directory.forget(tenantId);
      return reply.code(stored ? 200 : 201).send(view(record));
    },
  );

  app.delete(
    '/v1/admin/senders/:sender',
    {
      schema: {
        summary: 'Remove a sender from a tenant’s registry',
        description: 'When the last one goes, the tenant may again send from any valid sender id.',
        tags: ['admin'],
        params: SenderParams,
        querystring: TenantQuery,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const tenantId = request.query.tenantId ?? request.principal.tenantId;
      if (!(await deps.store.deleteSender(tenantId, request.params.sender))) {
        throw new PigeonError(
          'PIGEON_ERR_NOT_FOUND',
          `tenant "${tenantId}" has no sender "${request.params.sender}"`,
        );
      }
      directory.forget(tenantId);
      return reply.code(204).send(null);
    },
  );
}
