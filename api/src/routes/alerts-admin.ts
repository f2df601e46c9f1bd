import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { maskPhonesInText } from '../../../core/logger.ts';
import type { IncidentRecord, SilenceRecord } from '../../../core/store/kinds/alerts.ts';
import type { Store } from '../../../core/store/store.ts';
import type { AlertingSetup } from '../../../alerting/config.ts';
import type { Incident } from '../../../alerting/incident.ts';
import { describeIncident } from '../../../alerting/incident-text.ts';
import {
  type AlertRule,
  AlertRuleBody,
  compileRule,
  durationMs,
  LABEL_NAMES,
  RULE_ID_PATTERN,
} from '../../../alerting/rules.ts';
import { AckBody, Problem } from '../schemas.ts';
import { actorOf } from '../api-keys.ts';

export interface AlertAdminDeps {
  store: Store;
  /** The alerting configuration (alerting/config.ts): shipped and configured rules, channels. */
  setup: AlertingSetup;
  now?: () => number;
}

const ULID = '^[0-9A-HJKMNP-TV-Z]{26}$';
const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 503: Problem };
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const iso = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

const RuleView = Type.Object(
  {
    ...AlertRuleBody.properties,
    id: Type.String(),
    source: Type.Enum(['default', 'config', 'api'], {
      description: 'Where the rule in force comes from: shipped, PIGEON_CONFIG, or this API',
    }),
  },
  { additionalProperties: true },
);

const SilenceView = Type.Object({
  id: Type.String(),
  matchers: Type.Record(Type.String(), Type.String()),
  startsAt: Type.String(),
  endsAt: Type.String(),
  createdBy: Type.String(),
  comment: Type.String(),
  createdAt: Type.String(),
});

const SilenceBody = Type.Object(
  {
    matchers: Type.Record(
      Type.String({ pattern: '^[a-z]+$' }),
      Type.String({ minLength: 1, maxLength: 128 }),
      {
        minProperties: 1,
        description: `Labels an incident must have to be silenced: ${[...LABEL_NAMES, 'rule', 'severity'].join(', ')}; '*' matches any value`,
      },
    ),
    duration: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,6}(m|h|d)$', description: 'e.g. 2h; or give endsAt' }),
    ),
    endsAt: Type.Optional(Type.String({ format: 'date-time' })),
    startsAt: Type.Optional(Type.String({ format: 'date-time', description: 'Default: now' })),
    comment: Type.String({
      minLength: 1,
      maxLength: 500,
      description: 'Why: maintenance window, known outage…',
    }),
    createdBy: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);

const IncidentView = Type.Object({
  id: Type.String(),
  ruleId: Type.String(),
  state: Type.Enum(['pending', 'firing', 'resolved']),
  severity: Type.String(),
  labels: Type.Record(Type.String(), Type.String()),
  title: Type.String(),
  value: Nullable(Type.Number()),
  threshold: Nullable(Type.Number()),
  baseline: Nullable(Type.Number()),
  startedAt: Type.String(),
  firedAt: Nullable(Type.String()),
  resolvedAt: Nullable(Type.String()),
  resolution: Nullable(Type.String()),
  ackCode: Type.String({ description: 'What on-call people reply by SMS: "ACK 4821"' }),
  acknowledgedAt: Nullable(Type.String()),
  acknowledgedBy: Nullable(Type.String()),
});

function silenceView(s: SilenceRecord) {
  return {
    id: s.id,
    matchers: s.matchers,
    startsAt: new Date(s.startsAt).toISOString(),
    endsAt: new Date(s.endsAt).toISOString(),
    createdBy: s.createdBy,
    comment: s.comment,
    createdAt: new Date(s.createdAt).toISOString(),
  };
}

function incidentView(record: IncidentRecord) {
  const incident = record.detail as unknown as Partial<Incident>;
  const complete = { ...incident, state: record.state, labels: record.labels } as Incident;
  if (record.resolvedAt !== null) complete.resolvedAt = record.resolvedAt;
  return {
    id: record.id,
    ruleId: record.ruleId,
    state: record.state,
    severity: record.severity,
    labels: record.labels,
    title: incident.metric ? describeIncident(complete, undefined).title : record.ruleId,
    value: incident.value ?? null,
    threshold: incident.threshold ?? null,
    baseline: incident.baseline ?? null,
    startedAt: new Date(record.startedAt).toISOString(),
    firedAt: iso(record.firedAt),
    resolvedAt: iso(record.resolvedAt),
    resolution: incident.resolution ?? null,
    ackCode: record.ackCode,
    acknowledgedAt: iso(record.ackedAt),
    acknowledgedBy: record.ackedBy,
  };
}

/** "ACK 4821", "ack4821", "4821 on it": the first 4-digit code in an SMS reply. */
export function ackCodeOf(text: string): string | undefined {
  return /(?:^|\D)(\d{4})(?:\D|$)/.exec(text)?.[1];
}

/**
 * Acknowledges the open incident with this id or SMS reply code (the first acknowledgement
 * stands). Throws PIGEON_ERR_NOT_FOUND when none is open, PIGEON_ERR_CONFLICT when it resolved
 * unacknowledged. Also behind inbound SMS replies (routes/inbound.ts).
 */
export async function acknowledgeIncident(
  store: Pick<Store, 'acknowledgeIncident'>,
  idOrCode: string,
  by: string,
  at: number,
): Promise<IncidentRecord> {
  const record = await store.acknowledgeIncident(idOrCode, by, at);
  if (!record) throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No open incident ${idOrCode}`);
  if (record.state === 'resolved' && record.ackedAt === null) {
    throw new PigeonError('PIGEON_ERR_CONFLICT', `Incident ${record.id} is already resolved`);
  }
  return record;
}

/**
 * Alerting administration: `/v1/alerts/rules` (the rules in force; the API's own override the
 * configured and shipped ones by id), `/v1/alerts/silences`, and `/v1/alerts/incidents` with
 * acknowledgement by id or by the code on-call people reply with by SMS. Rules and silences need
 * the `admin` scope; incidents and acknowledgements `alerts:write`. Everything is in the store,
 * which the monitor reads back on every tick: a change is in force within seconds.
 */
export async function alertAdminRoutes(fastify: FastifyInstance, deps: AlertAdminDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  const { setup, store } = deps;
  const known = { channels: setup.channels, escalations: setup.policies.map((p) => p.id) };
  const admin = { onRequest: app.requireScope('admin') };
  const alerts = { onRequest: app.requireScope('alerts:write') };

  const rulesInForce = async () => {
    const byId = new Map<string, AlertRule & { source: 'default' | 'config' | 'api' }>();
    for (const rule of setup.layers.defaults) byId.set(rule.id, { ...rule, source: 'default' });
    for (const rule of setup.layers.config) byId.set(rule.id, { ...rule, source: 'config' });
    for (const record of await store.listAlertRules()) {
      byId.set(record.id, { ...(record.definition as AlertRule), source: 'api' });
    }
    return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  };

  app.get(
    '/v1/alerts/rules',
    {
      ...admin,
      schema: {
        summary: 'The alert rules in force, and where each comes from',
        tags: ['alerting'],
        response: { 200: Type.Object({ rules: Type.Array(RuleView) }), ...errorResponses },
      },
    },
    async () => ({ rules: await rulesInForce() }),
  );

  app.put(
    '/v1/alerts/rules/:id',
    {
      ...admin,
      schema: {
        summary: 'Create or replace a rule; it overrides a shipped or configured rule of the same id',
        description: 'Switch an inherited rule off with `"enabled": false`.',
        tags: ['alerting'],
        params: Type.Object({ id: Type.String({ pattern: RULE_ID_PATTERN }) }),
        body: AlertRuleBody,
        response: { 200: RuleView, 201: RuleView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { rule } = compileRule({ ...request.body, id }, known);
      const existed = (await store.listAlertRules()).some((r) => r.id === id);
      await store.putAlertRule(rule);
      return reply.code(existed ? 200 : 201).send({ ...rule, source: 'api' as const });
    },
  );

  app.delete(
    '/v1/alerts/rules/:id',
    {
      ...admin,
      schema: {
        summary:
          'Delete a rule written through the API; a configured or shipped rule of its id applies again',
        tags: ['alerting'],
        params: Type.Object({ id: Type.String({ pattern: RULE_ID_PATTERN }) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await store.deleteAlertRule(request.params.id))) {
        throw new PigeonError(
          'PIGEON_ERR_NOT_FOUND',
          `No rule "${request.params.id}" written through the API; switch a shipped or configured rule off with a PUT of "enabled": false`,
        );
      }
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/alerts/silences',
    {
      ...admin,
      schema: {
        summary: 'Silences in force or to come (all=true: expired ones too)',
        tags: ['alerting'],
        querystring: Type.Object(
          { all: Type.Optional(Type.Enum(['true', 'false'])) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ silences: Type.Array(SilenceView) }), ...errorResponses },
      },
    },
    async (request) => ({
      silences: (await store.listSilences(request.query.all === 'true' ? undefined : now())).map(silenceView),
    }),
  );

  app.post(
    '/v1/alerts/silences',
    {
      ...admin,
      schema: {
        summary:
          'Silence matching incidents until a time: nobody is notified of them, but resolved notices still go out',
        tags: ['alerting'],
        body: SilenceBody,
        response: { 201: SilenceView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const at = now();
      const startsAt = body.startsAt ? Date.parse(body.startsAt) : at;
      const endsAt = body.endsAt
        ? Date.parse(body.endsAt)
        : body.duration
          ? startsAt + durationMs(body.duration)
          : NaN;
      if (
        (body.endsAt === undefined) === (body.duration === undefined) ||
        !(endsAt > startsAt) ||
        endsAt <= at
      ) {
        throw new PigeonError(
          'PIGEON_ERR_VALIDATION',
          'give exactly one of duration and endsAt, ending in the future',
          {
            errors: [{ field: '/endsAt', message: 'one of duration and endsAt, after startsAt and now' }],
          },
        );
      }
      const silence: SilenceRecord = {
        id: newId(at),
        matchers: body.matchers,
        startsAt,
        endsAt,
        createdBy: body.createdBy ?? actorOf(request.principal),
        comment: body.comment,
        createdAt: at,
      };
      await store.putSilence(silence);
      return reply.code(201).send(silenceView(silence));
    },
  );

  app.delete(
    '/v1/alerts/silences/:id',
    {
      ...admin,
      schema: {
        summary: 'End a silence now',
        tags: ['alerting'],
        params: Type.Object({ id: Type.String({ pattern: ULID }) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const silence = await store.getSilence(request.params.id);
      if (!silence) throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No silence ${request.params.id}`);
      const at = now();
      if (silence.endsAt > at) await store.putSilence({ ...silence, endsAt: at });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/alerts/incidents',
    {
      ...alerts,
      schema: {
        summary: 'Incidents, newest first',
        tags: ['alerting'],
        querystring: Type.Object(
          {
            state: Type.Optional(Type.Enum(['open', 'resolved', 'all'])),
            before: Type.Optional(
              Type.String({ pattern: ULID, description: 'The last id of the previous page' }),
            ),
            limit: Type.Optional(
              Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: 'Page size, 1–999 (default 100)' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ incidents: Type.Array(IncidentView) }), ...errorResponses },
      },
    },
    async (request) => {
      const { state = 'open', before, limit = '100' } = request.query;
      const records = await store.listIncidents({
        ...(state === 'all' ? {} : { open: state === 'open' }),
        ...(before ? { before } : {}),
        limit: Number(limit),
      });
      return { incidents: records.map(incidentView) };
    },
  );

  app.get(
    '/v1/alerts/incidents/:id',
    {
      ...alerts,
      schema: {
        summary: 'One incident',
        tags: ['alerting'],
        params: Type.Object({ id: Type.String({ pattern: ULID }) }),
        response: { 200: IncidentView, ...errorResponses },
      },
    },
    async (request) => {
      const record = await store.getIncident(request.params.id);
      if (!record) throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No incident ${request.params.id}`);
      return incidentView(record);
    },
  );

  const acknowledge = async (idOrCode: string, by: string) =>
    incidentView(await acknowledgeIncident(store, idOrCode, by, now()));

  app.post(
    '/v1/alerts/incidents/:id/ack',
    {
      ...alerts,
      schema: {
        summary: 'Acknowledge an incident: its reminders and escalation stop',
        tags: ['alerting'],
        params: Type.Object({ id: Type.String({ pattern: ULID }) }),
        body: AckBody,
        response: { 200: IncidentView, ...errorResponses },
      },
    },
    async (request) => acknowledge(request.params.id, request.body?.by ?? actorOf(request.principal)),
  );

  app.post(
    '/v1/alerts/incidents/replies',
    {
      ...alerts,
      schema: {
        summary: 'Acknowledge by an on-call SMS reply ("ACK 4821"), as forwarded by an inbound SMS webhook',
        tags: ['alerting'],
        body: Type.Object(
          {
            text: Type.String({ minLength: 1, maxLength: 1600 }),
            from: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'Sender, E.164' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: IncidentView, ...errorResponses },
      },
    },
    async (request) => {
      const code = ackCodeOf(request.body.text);
      if (code === undefined) {
        throw new PigeonError('PIGEON_ERR_VALIDATION', 'the reply holds no 4-digit acknowledgement code', {
          errors: [{ field: '/text', message: 'expected e.g. "ACK 4821"' }],
        });
      }
      // Stored masked: the incident history needs who, not their number.
      const by = request.body.from ? `sms:${maskPhonesInText(request.body.from)}` : 'sms';
      return acknowledge(code, by);
    },
  );
}
