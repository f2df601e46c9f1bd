import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { PageRecord } from '../../../core/oncall.ts';
import { ROSTER_NAME_PATTERN } from '../../../core/oncall.ts';
import { AlertBody, parseAlerts } from '../oncall/alerts.ts';
import type { OncallService } from '../oncall/oncall.ts';
import { AckBody, Problem } from '../schemas.ts';
import { actorOf } from '../api-keys.ts';

export interface AlertRoutesDeps {
  oncall: OncallService;
  /** How often due escalations are swept (default 15 s); 0 turns the sweeper off (tests sweep by hand). */
  escalationIntervalMs?: number;
}

const ULID = '^[0-9A-HJKMNP-TV-Z]{26}$';
const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 503: Problem };
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const Outcome = Type.Object({
  fingerprint: Type.String(),
  status: Type.Enum(['firing', 'resolved']),
  result: Type.Enum(['paged', 'duplicate', 'resolved', 'no_page'], {
    description: 'duplicate: this notice was already handled; no_page: resolved, but nobody had been paged',
  }),
  pageId: Type.Optional(Type.String()),
  via: Type.Optional(
    Type.Enum(['bus', 'direct'], { description: 'direct: Kafka did not take it, a provider did' }),
  ),
});

const PageView = Type.Object({
  id: Type.String(),
  roster: Type.String(),
  fingerprint: Type.String(),
  status: Type.Enum(['open', 'acknowledged', 'resolved']),
  severity: Type.String(),
  title: Type.String(),
  level: Type.Integer({ description: 'Escalation level reached: 0 is the first member paged' }),
  chain: Type.Array(Type.String(), { description: 'Members paged in turn, by name' }),
  deliveries: Type.Array(
    Type.Object({
      member: Type.String(),
      level: Type.Integer(),
      kind: Type.Enum(['page', 'escalation', 'resolved']),
      messageId: Type.String({ description: 'GET /v1/messages/{id} for a page sent through the bus' }),
      via: Type.Enum(['bus', 'direct']),
      provider: Type.Optional(Type.String()),
      at: Type.String(),
    }),
  ),
  createdAt: Type.String(),
  escalateAt: Nullable(Type.String()),
  acknowledgedAt: Nullable(Type.String()),
  acknowledgedBy: Nullable(Type.String()),
  resolvedAt: Nullable(Type.String()),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A page without phone numbers: members by name. */
export function pageView(page: PageRecord) {
  return {
    id: page.id,
    roster: page.roster,
    fingerprint: page.fingerprint,
    status: page.status,
    severity: page.severity,
    title: page.title,
    level: page.level,
    chain: page.chain.map((m) => m.name),
    deliveries: page.deliveries.map((d) => ({ ...d, at: new Date(d.at).toISOString() })),
    createdAt: new Date(page.createdAt).toISOString(),
    escalateAt: iso(page.escalateAt),
    acknowledgedAt: iso(page.acknowledgedAt),
    acknowledgedBy: page.acknowledgedBy,
    resolvedAt: iso(page.resolvedAt),
  };
}

/**
 * `POST /v1/alerts/alertmanager` (Alertmanager's webhook, or a generic alert): pages the member on
 * call and sends resolved notices. `GET /v1/alerts/{id}` and `POST /v1/alerts/{id}/ack` for pages.
 * Every call needs the `alerts:write` scope: give Alertmanager a key of its own with only that.
 * Also sweeps for due escalations while the server runs.
 */
export async function alertRoutes(fastify: FastifyInstance, deps: AlertRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.addHook('onRequest', app.requireScope('alerts:write'));

  const intervalMs = deps.escalationIntervalMs ?? 15_000;
  if (intervalMs > 0) {
    let sweeping = false;
    const timer = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      deps.oncall
        .escalateDue()
        .catch((err: unknown) => app.log.error({ err }, 'oncall.sweep_failed'))
        .finally(() => {
          sweeping = false;
        });
    }, intervalMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }

  app.post(
    '/v1/alerts/alertmanager',
    {
      // Alertmanager sends up to max_alerts alerts per group; their labels and annotations add up.
      bodyLimit: 1024 * 1024,
      schema: {
        summary: 'Page the on-call member for alerts (Alertmanager webhook v4, or a generic alert)',
        description:
          'Firing alerts page the member on call of the roster named by the `roster` label (or field, or `?roster=`), else the roster named like the receiver, else `default`; each alert pages once however often it is posted. Resolved alerts send a resolved notice to everyone paged. When Kafka does not take a page it goes straight to a provider.',
        tags: ['alerts'],
        querystring: Type.Object(
          { roster: Type.Optional(Type.String({ pattern: ROSTER_NAME_PATTERN })) },
          { additionalProperties: false },
        ),
        body: AlertBody,
        response: { 200: Type.Object({ results: Type.Array(Outcome) }), ...errorResponses },
      },
    },
    async (request) => {
      const parsed = parseAlerts(request.body, request.query);
      return { results: await deps.oncall.receive(request.principal.tenantId, parsed) };
    },
  );

  app.get(
    '/v1/alerts/:id',
    {
      schema: {
        summary: 'A page: who was paged, how, and whether it was acknowledged or resolved',
        tags: ['alerts'],
        params: Type.Object({ id: Type.String({ pattern: ULID }) }),
        response: { 200: PageView, ...errorResponses },
      },
    },
    async (request) => pageView(await deps.oncall.page(request.principal.tenantId, request.params.id)),
  );

  app.post(
    '/v1/alerts/:id/ack',
    {
      schema: {
        summary: 'Acknowledge a page: nobody else is paged for it',
        tags: ['alerts'],
        params: Type.Object({ id: Type.String({ pattern: ULID }) }),
        body: AckBody,
        response: { 200: PageView, ...errorResponses },
      },
    },
    async (request) => {
      const by = request.body?.by ?? actorOf(request.principal);
      return pageView(await deps.oncall.acknowledge(request.principal.tenantId, request.params.id, by));
    },
  );
}
