import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { maskPhone } from '../../../core/phone.ts';
import type { InboundRecord } from '../../../core/store/kinds/inbound.ts';
import type { Store } from '../../../core/store/store.ts';
import { seesPii } from '../api-keys.ts';
import { parseLimit } from '../listing.ts';
import { Problem } from '../schemas.ts';

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 503: Problem };
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const InboundView = Type.Object({
  id: Type.String(),
  from: Type.String({ description: 'Masked unless the key has pii:read' }),
  to: Type.String({ description: 'The tenant’s sender it was sent to' }),
  body: Type.Union([Type.String(), Type.Null()], {
    description:
      'The text, joined from its parts; null unless the key has pii:read (replies carry personal data)',
  }),
  parts: Type.Integer(),
  keyword: Type.Union([Type.String(), Type.Null()], {
    description: 'stop, stop_all, start or help, when it was one',
  }),
  inReplyTo: Type.Union([Type.String(), Type.Null()], { description: 'The message it answers, when known' }),
  provider: Type.String(),
  receivedAt: Type.String({ format: 'date-time' }),
});

function view(record: InboundRecord, pii: boolean) {
  return {
    id: record.id,
    from: pii ? record.from : maskPhone(record.from),
    to: record.to,
    body: pii ? record.body : null,
    parts: record.parts,
    keyword: record.keyword,
    inReplyTo: record.inReplyTo,
    provider: record.provider,
    receivedAt: new Date(record.receivedAt).toISOString(),
  };
}

/** `GET /v1/inbound`: SMS people sent to the tenant's senders, newest first (`messages:read`). */
export async function inboundMessageRoutes(fastify: FastifyInstance, deps: { store: Store }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/v1/inbound',
    {
      onRequest: app.requireScope('messages:read'),
      schema: {
        summary: 'Inbound SMS to the tenant’s senders, newest first',
        tags: ['inbound'],
        querystring: Type.Object(
          {
            cursor: Type.Optional(
              Type.String({ maxLength: 40, description: 'nextCursor of the previous page' }),
            ),
            limit: Type.Optional(
              Type.String({ pattern: '^[0-9]{1,4}$', description: 'Page size, 1–1000 (default 100)' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            inbound: Type.Array(InboundView),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      const before = request.query.cursor;
      // The cursor is the last id shown: ids are ULIDs, so "older than" is "less than".
      if (before !== undefined && !ULID.test(before)) {
        throw new PigeonError('PIGEON_ERR_INVALID_CURSOR', 'The cursor is not one this API issued', {
          errors: [{ field: '/cursor', message: 'malformed' }],
        });
      }
      const rows = await deps.store.listInbound(request.principal.tenantId, {
        limit: limit + 1,
        ...(before === undefined ? {} : { before }),
      });
      const page = rows.slice(0, limit);
      const pii = seesPii(request.principal);
      return {
        inbound: page.map((r) => view(r, pii)),
        nextCursor: rows.length > limit ? page.at(-1)!.id : null,
      };
    },
  );
}
