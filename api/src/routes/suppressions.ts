import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { maskPhone, requireE164 } from '../../../core/phone.ts';
import type { SuppressionPosition, SuppressionRecord } from '../../../core/store/kinds/suppressions.ts';
import type { Store } from '../../../core/store/store.ts';
import type { SuppressionList } from '../../../core/suppression-cache.ts';
import { seesPii } from '../api-keys.ts';
import { MAX_IMPORT_ENTRIES, parseImport, senderScope } from '../inbound/suppression-import.ts';
import { parseLimit } from '../listing.ts';
import { Problem } from '../schemas.ts';

export interface SuppressionRoutesDeps {
  store: Store;
  suppressions: SuppressionList;
  now?: () => number;
}

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 413: Problem, 503: Problem };

/** An import of MAX_IMPORT_ENTRIES CSV lines of long numbers and senders fits. */
const IMPORT_BODY_LIMIT = 1024 * 1024;

const SuppressionView = Type.Object({
  phone: Type.String({ description: 'Masked unless the key has pii:read' }),
  sender: Type.String({ description: 'The sender the opt-out applies to; `*`: every sender (STOPALL)' }),
  reason: Type.String({ description: 'keyword, api, import or provider' }),
  createdAt: Type.String({ format: 'date-time' }),
});
const SuppressionBody = Type.Object(
  {
    phone: Type.String({ minLength: 2, maxLength: 32, description: 'E.164' }),
    sender: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 20,
        description: 'One sender, or `*` (the default): every sender',
      }),
    ),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: 'Page size, 1–1000 (default 100)' }),
    ),
  },
  { additionalProperties: false },
);

function encodeCursor(position: SuppressionPosition): string {
  return Buffer.from(`${position.phone}\n${position.sender}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): SuppressionPosition {
  const [phone, sender, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('\n');
  if (!phone || !sender || extra !== undefined) {
    throw new PigeonError('PIGEON_ERR_INVALID_CURSOR', 'The cursor is not one this API issued', {
      errors: [{ field: '/cursor', message: 'malformed' }],
    });
  }
  return { phone, sender };
}

/**
 * `/v1/suppressions`: the tenant's opt-out list — who said STOP (to which sender, or STOPALL),
 * whom a provider reported opted out, and whom the tenant added. Reading needs `messages:read`
 * (numbers masked without `pii:read`); changes need `messages:write`. Every change goes through
 * SuppressionList, so the bridge's send-time check sees it at once.
 */
export async function suppressionRoutes(fastify: FastifyInstance, deps: SuppressionRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  app.addContentTypeParser(
    'text/csv',
    { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT },
    (_r, body, done) => done(null, body),
  );

  app.get(
    '/v1/suppressions',
    {
      onRequest: app.requireScope('messages:read'),
      schema: {
        summary: "The tenant's suppression list, by number",
        tags: ['suppressions'],
        querystring: ListQuery,
        response: {
          200: Type.Object({
            suppressions: Type.Array(SuppressionView),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      const after = request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor);
      const rows = await deps.store.listSuppressions(request.principal.tenantId, {
        limit: limit + 1,
        ...(after ? { after } : {}),
      });
      const page = rows.slice(0, limit);
      const pii = seesPii(request.principal);
      return {
        suppressions: page.map((r) => view(r, pii)),
        nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!) : null,
      };
    },
  );

  app.post(
    '/v1/suppressions',
    {
      onRequest: app.requireScope('messages:write'),
      schema: {
        summary: 'Suppress a number for one sender or for all',
        tags: ['suppressions'],
        body: SuppressionBody,
        response: { 201: SuppressionView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const record: SuppressionRecord = {
        tenantId: request.principal.tenantId,
        phone: requireE164(request.body.phone, 'phone').e164,
        sender: senderScope(request.body.sender, 'sender'),
        reason: 'api',
        createdAt: now(),
      };
      await deps.suppressions.add([record]);
      return reply.code(201).send(view(record, true));
    },
  );

  app.delete(
    '/v1/suppressions/:phone',
    {
      onRequest: app.requireScope('messages:write'),
      schema: {
        summary: "Lift a number's opt-out for one sender, or every one it has",
        tags: ['suppressions'],
        params: Type.Object({ phone: Type.String({ minLength: 2, maxLength: 32 }) }),
        querystring: Type.Object(
          { sender: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ removed: Type.Integer() }), ...errorResponses },
      },
    },
    async (request) => {
      const phone = requireE164(request.params.phone, 'phone').e164;
      const sender =
        request.query.sender === undefined ? undefined : senderScope(request.query.sender, 'sender');
      return { removed: await deps.suppressions.remove(request.principal.tenantId, phone, sender) };
    },
  );

  app.post(
    '/v1/suppressions/import',
    {
      onRequest: app.requireScope('messages:write'),
      bodyLimit: IMPORT_BODY_LIMIT,
      schema: {
        summary: 'Import many suppressions at once',
        description: `A JSON array of E.164 numbers or { phone, sender } objects, or text/csv lines "phone[,sender]" (an optional header line "phone,sender"). At most ${MAX_IMPORT_ENTRIES} entries; any invalid entry refuses the whole import, naming the bad entries. A sender left out means every sender.`,
        tags: ['suppressions'],
        response: { 200: Type.Object({ imported: Type.Integer() }), ...errorResponses },
      },
    },
    async (request) => {
      const entries = parseImport(request.body, String(request.headers['content-type'] ?? ''));
      const at = now();
      const tenantId = request.principal.tenantId;
      await deps.suppressions.add(
        entries.map((e) => ({ tenantId, ...e, reason: 'import' as const, createdAt: at })),
      );
      return { imported: entries.length };
    },
  );
}

function view(record: SuppressionRecord, pii: boolean) {
  return {
    phone: pii ? record.phone : maskPhone(record.phone),
    sender: record.sender,
    reason: record.reason,
    createdAt: new Date(record.createdAt).toISOString(),
  };
}
