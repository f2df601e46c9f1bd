import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { timeOfId } from '../../../core/ids.ts';
import { MESSAGE_CLASSES, MESSAGE_STATUSES } from '../../../core/message.ts';
import { requireE164 } from '../../../core/phone.ts';
import { type MessageRecord } from '../../../core/store/kinds/messages.ts';
import { type MessageFilter, USAGE_GROUPS, type UsageRow } from '../../../core/store/kinds/reports.ts';
import { type Store } from '../../../core/store/store.ts';
import { checkRange, decodeCursor, encodeCursor, parseInstant, parseLimit, toCsv } from '../listing.ts';
import { MessageSummary, Nullable, Problem } from '../schemas.ts';
import { messageFields } from './messages.ts';
import { seesPii } from '../api-keys.ts';

export interface HistoryRoutesDeps {
  store: Store;
  /** The clock usage ranges default from (tests pin it). */
  now?: () => number;
}

const DAY_MS = 86_400_000;
/** Default usage range, and the longest one: a year and a bit, so a report over a year is one call. */
const DEFAULT_USAGE_DAYS = 30;
const MAX_USAGE_DAYS = 400;

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 503: Problem };

const Instant = (what: string) =>
  Type.String({
    minLength: 10,
    maxLength: 40,
    description: `${what}: ISO 8601 date (2026-01-31, midnight UTC) or date-time with a time zone`,
  });

const ListQuery = Type.Object(
  {
    to: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 32,
        description: 'Recipient, E.164 (%2B for +); needs the pii:read scope',
      }),
    ),
    clientRef: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'Your reference, exactly as sent' }),
    ),
    status: Type.Optional(Type.Enum(MESSAGE_STATUSES)),
    class: Type.Optional(Type.Enum(MESSAGE_CLASSES)),
    provider: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    since: Type.Optional(Instant('Created at or after')),
    until: Type.Optional(Instant('Created before')),
    cursor: Type.Optional(
      Type.String({ maxLength: 200, description: 'nextCursor of the previous page, with the same filters' }),
    ),
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: 'Page size, 1–1000 (default 100)' }),
    ),
  },
  { additionalProperties: false },
);

const MessageList = Type.Object({
  messages: Type.Array(MessageSummary, { description: 'Newest first' }),
  nextCursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next page; null on the last' })),
});

const UsageQuery = Type.Object(
  {
    since: Type.Optional(Instant(`Created at or after (default: ${DEFAULT_USAGE_DAYS} days before until)`)),
    until: Type.Optional(Instant('Created before (default: now)')),
    groupBy: Type.Optional(
      Type.Enum(USAGE_GROUPS, { description: 'day (UTC, the default), provider or country' }),
    ),
  },
  { additionalProperties: false },
);

const UsageTotals = {
  messages: Type.Integer(),
  segments: Type.Integer(),
  cost: Type.Number({ description: 'Billed cost; each message counted once' }),
};

const UsageReport = Type.Object({
  since: Type.String({ format: 'date-time' }),
  until: Type.String({ format: 'date-time' }),
  groupBy: Type.Enum(USAGE_GROUPS),
  groups: Type.Array(
    Type.Object({
      key: Nullable(Type.String({ description: 'YYYY-MM-DD, provider or country; null: none (never sent)' })),
      ...UsageTotals,
    }),
  ),
  total: Type.Object(UsageTotals),
});

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;

export function messageSummary(message: MessageRecord, showPii: boolean) {
  return {
    ...messageFields(message, showPii),
    batchId: message.batchId,
    createdAt: new Date(timeOfId(message.id)).toISOString(),
  };
}

/** Groups in a stable order: days ascending; providers and countries by name, "none" last. */
function sortGroups(rows: UsageRow[]): UsageRow[] {
  return [...rows].sort((a, b) =>
    a.key === b.key ? 0 : a.key === null ? 1 : b.key === null ? -1 : a.key < b.key ? -1 : 1,
  );
}

/** Whether the client asked for CSV (`Accept: text/csv`) rather than JSON. */
function wantsCsv(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/csv\s*(;|,|$)/i.test(accept);
}

/**
 * `GET /v1/messages`: a tenant's messages, newest first, with filters and keyset pagination on
 * the id (a cursor stays valid while new messages arrive). `GET /v1/usage`: messages, segments
 * and cost per day, provider or country, as JSON or CSV.
 */
export async function historyRoutes(fastify: FastifyInstance, deps: HistoryRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;

  app.get(
    '/v1/messages',
    {
      onRequest: app.requireScope('messages:read'),
      schema: {
        summary: "List the tenant's messages, newest first",
        description:
          'Filters combine; `since`/`until` bound the creation time. Numbers are masked unless the key ' +
          'has the pii:read scope, and the `to` filter needs that scope too (403 without it): an exact ' +
          'match would otherwise confirm a guessed number the listing masks. Page with `nextCursor`, ' +
          'repeating the same filters.',
        tags: ['messages'],
        querystring: ListQuery,
        response: { 200: MessageList, ...errorResponses },
      },
    },
    async (request) => {
      const { principal } = request;
      const query = request.query;
      const filter: MessageFilter = {};
      const showPii = seesPii(principal);
      if (query.to !== undefined) {
        // Refused rather than answered: a match or a miss on an exact number would confirm a
        // number the key is only ever shown masked.
        if (!showPii) {
          throw new PigeonError('PIGEON_ERR_FORBIDDEN', 'The "to" filter needs the "pii:read" scope', {
            errors: [{ field: '/to', message: 'needs the pii:read scope' }],
          });
        }
        // A `+` left unencoded in a query string arrives as a space; the number means the same.
        filter.recipient = requireE164(query.to.replace(/^ (?=\d)/, '+'), 'to').e164;
      }
      if (query.clientRef !== undefined) filter.clientRef = query.clientRef;
      if (query.status !== undefined) filter.status = query.status;
      if (query.class !== undefined) filter.messageClass = query.class;
      if (query.provider !== undefined) filter.provider = query.provider;
      if (query.since !== undefined) filter.since = parseInstant('since', query.since);
      if (query.until !== undefined) filter.until = parseInstant('until', query.until);
      checkRange(filter.since, filter.until);
      const limit = parseLimit(query.limit);
      const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor, filter);
      // One more than asked tells whether another page exists, so the last page says so.
      const rows = await deps.store.listMessages(
        principal.tenantId,
        filter,
        before === undefined ? { limit: limit + 1 } : { before, limit: limit + 1 },
      );
      const page = rows.slice(0, limit);
      return {
        messages: page.map((m) => messageSummary(m, showPii)),
        nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!.id, filter) : null,
      };
    },
  );

  app.get(
    '/v1/usage',
    {
      onRequest: app.requireScope('messages:read'),
      schema: {
        summary: 'Messages, segments and cost per day, provider or country',
        description:
          'Over messages created in [since, until). `Accept: text/csv` returns the groups as a CSV ' +
          'download (RFC 4180, header row) instead of JSON.',
        tags: ['usage'],
        querystring: UsageQuery,
        response: {
          200: {
            content: {
              'application/json': { schema: UsageReport },
              'text/csv': { schema: Type.String({ description: '<groupBy>,messages,segments,cost' }) },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { principal } = request;
      const query = request.query;
      const until = query.until === undefined ? now() : parseInstant('until', query.until);
      const since =
        query.since === undefined ? until - DEFAULT_USAGE_DAYS * DAY_MS : parseInstant('since', query.since);
      checkRange(since, until);
      if (until - since > MAX_USAGE_DAYS * DAY_MS) {
        throw new PigeonError('PIGEON_ERR_VALIDATION', `A usage range spans at most ${MAX_USAGE_DAYS} days`, {
          errors: [{ field: '/since', message: `more than ${MAX_USAGE_DAYS} days before until` }],
        });
      }
      const groupBy = query.groupBy ?? 'day';
      const groups = sortGroups(await deps.store.usage(principal.tenantId, { since, until }, groupBy));
      if (wantsCsv(request.headers.accept)) {
        const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
        return reply
          .type('text/csv; charset=utf-8')
          .header(
            'content-disposition',
            `attachment; filename="pigeon-usage-${groupBy}-${day(since)}-${day(until)}.csv"`,
          )
          .send(
            toCsv([
              [groupBy, 'messages', 'segments', 'cost'],
              ...groups.map((g) => [g.key, g.messages, g.segments, g.cost]),
            ]),
          );
      }
      const total = groups.reduce(
        (sum, g) => ({
          messages: sum.messages + g.messages,
          segments: sum.segments + g.segments,
          cost: round6(sum.cost + g.cost),
        }),
        { messages: 0, segments: 0, cost: 0 },
      );
      return reply.send({
        since: new Date(since).toISOString(),
        until: new Date(until).toISOString(),
        groupBy,
        groups,
        total,
      });
    },
  );
}
