import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { type Static, Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import {
  checkRoster,
  DATE_PATTERN,
  escalationChain,
  HANDOFF_TIME_PATTERN,
  MAX_MEMBERS,
  MAX_OVERRIDES,
  onCallAt,
  ROSTER_NAME_PATTERN,
  ROTATION_PERIODS,
  type Roster,
  type RosterRecord,
  WEEKDAYS,
} from '../../../core/oncall.ts';
import type { Store } from '../../../core/store/store.ts';
import { Problem } from '../schemas.ts';

export interface OncallAdminRoutesDeps {
  store: Store;
  /** Told after every write, so the alert path stops using its cached copy. */
  onChange?: (tenantId: string, name: string) => void;
  now?: () => number;
}

const Member = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    phone: Type.String({ minLength: 1, maxLength: 32, description: 'E.164, e.g. +14155550123' }),
  },
  { additionalProperties: false },
);

const Rotation = Type.Object(
  {
    period: Type.Enum(ROTATION_PERIODS),
    handoffTime: Type.String({
      pattern: HANDOFF_TIME_PATTERN,
      description: 'Local time of the handoff, HH:MM',
    }),
    handoffDay: Type.Optional(
      Type.Enum(WEEKDAYS, { description: 'Weekly: the day of the handoff (default: the weekday of start)' }),
    ),
    start: Type.String({
      pattern: DATE_PATTERN,
      description: 'Local date whose shift the first member takes (YYYY-MM-DD)',
    }),
  },
  { additionalProperties: false },
);

const OverrideBody = Type.Object(
  {
    member: Type.String({ minLength: 1, maxLength: 64 }),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

const Override = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    member: Type.String({ minLength: 1, maxLength: 64 }),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

const Escalation = Type.Object(
  {
    afterMinutes: Type.Integer({ minimum: 1, maximum: 1440 }),
    maxLevels: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_MEMBERS - 1,
        description: 'Default: every other member, once',
      }),
    ),
  },
  { additionalProperties: false },
);

const RosterBody = Type.Object(
  {
    timezone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/London' }),
    members: Type.Array(Member, { minItems: 1, maxItems: MAX_MEMBERS, description: 'In rotation order' }),
    rotation: Rotation,
    overrides: Type.Optional(Type.Array(Override, { maxItems: MAX_OVERRIDES })),
    escalation: Type.Optional(Escalation),
  },
  { additionalProperties: false },
);
type RosterBody = Static<typeof RosterBody>;

const RosterView = Type.Object({
  name: Type.String(),
  timezone: Type.String(),
  members: Type.Array(Member),
  rotation: Rotation,
  overrides: Type.Array(
    Type.Object({ id: Type.String(), member: Type.String(), from: Type.String(), to: Type.String() }),
  ),
  escalation: Type.Optional(Escalation),
  updatedAt: Type.String(),
  onCall: Type.Object({
    member: Type.String(),
    source: Type.Enum(['rotation', 'override']),
    until: Type.String({ description: 'When this stint ends' }),
  }),
  escalationChain: Type.Array(Type.String(), { description: 'Who a page at that time would go to, in turn' }),
});

const NameParams = Type.Object({ name: Type.String({ pattern: ROSTER_NAME_PATTERN }) });
const AtQuery = Type.Object(
  {
    at: Type.Optional(
      Type.String({ format: 'date-time', description: 'Who is on call then (default: now)' }),
    ),
  },
  { additionalProperties: false },
);
const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 503: Problem };

/**
 * `/v1/admin/oncall`: on-call rosters of the key's tenant — members, rotation, overrides and
 * escalation — and who is on call. Every call needs the `admin` scope. Overrides that ended are
 * dropped whenever a roster is written.
 */
export async function oncallAdminRoutes(fastify: FastifyInstance, deps: OncallAdminRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  app.addHook('onRequest', app.requireScope('admin'));

  const view = (record: RosterRecord, at: number) => {
    const current = onCallAt(record.roster, at);
    return {
      ...record.roster,
      updatedAt: new Date(record.updatedAt).toISOString(),
      onCall: {
        member: current.member.name,
        source: current.source,
        until: new Date(current.until).toISOString(),
      },
      escalationChain: escalationChain(record.roster, at).map((m) => m.name),
    };
  };
  const atOf = (at: string | undefined) => (at === undefined ? now() : Date.parse(at));

  const stored = async (tenantId: string, name: string): Promise<RosterRecord> => {
    const record = await deps.store.getRoster(tenantId, name);
    if (!record) throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No on-call roster named "${name}"`);
    return record;
  };

  /** Checks and stores a roster, dropping overrides that already ended. */
  const save = async (tenantId: string, roster: Roster): Promise<RosterRecord> => {
    const at = now();
    const kept = { ...roster, overrides: roster.overrides.filter((o) => Date.parse(o.to) > at) };
    const errors = checkRoster(kept);
    if (errors.length > 0) {
      throw new PigeonError(
        'PIGEON_ERR_VALIDATION',
        errors.map((e) => `${e.field}: ${e.message}`).join('; '),
        {
          errors,
        },
      );
    }
    const record: RosterRecord = { tenantId, name: roster.name, roster: kept, updatedAt: at };
    await deps.store.putRoster(record);
    deps.onChange?.(tenantId, roster.name);
    return record;
  };

  app.get(
    '/v1/admin/oncall',
    {
      schema: {
        summary: 'Every on-call roster, with who is on call',
        tags: ['oncall'],
        querystring: AtQuery,
        response: { 200: Type.Object({ rosters: Type.Array(RosterView) }), ...errorResponses },
      },
    },
    async (request) => {
      const at = atOf(request.query.at);
      return { rosters: (await deps.store.listRosters(request.principal.tenantId)).map((r) => view(r, at)) };
    },
  );

  app.get(
    '/v1/admin/oncall/:name',
    {
      schema: {
        summary: 'A roster, with who is on call now (or at `at`) and the escalation chain',
        tags: ['oncall'],
        params: NameParams,
        querystring: AtQuery,
        response: { 200: RosterView, ...errorResponses },
      },
    },
    async (request) =>
      view(await stored(request.principal.tenantId, request.params.name), atOf(request.query.at)),
  );

  app.put(
    '/v1/admin/oncall/:name',
    {
      schema: {
        summary: 'Create or replace a roster',
        description:
          'Members in rotation order; the rotation hands over daily or weekly at a local time in `timezone`. Overrides put a member on call for a time range (the one that started last wins). With `escalation`, a page nobody acknowledges goes to the next member after `afterMinutes`.',
        tags: ['oncall'],
        params: NameParams,
        body: RosterBody,
        response: { 200: RosterView, 201: RosterView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const { name } = request.params;
      const existed = (await deps.store.getRoster(tenantId, name)) !== undefined;
      const body: RosterBody = request.body;
      const roster: Roster = {
        name,
        timezone: body.timezone,
        members: body.members,
        rotation: body.rotation,
        overrides: (body.overrides ?? []).map((o) => ({ ...o, id: o.id ?? newId() })),
        ...(body.escalation ? { escalation: body.escalation } : {}),
      };
      const record = await save(tenantId, roster);
      return reply.code(existed ? 200 : 201).send(view(record, now()));
    },
  );

  app.delete(
    '/v1/admin/oncall/:name',
    {
      schema: {
        summary: 'Delete a roster (open pages keep their escalation chain)',
        tags: ['oncall'],
        params: NameParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.principal;
      if (!(await deps.store.deleteRoster(tenantId, request.params.name))) {
        throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No on-call roster named "${request.params.name}"`);
      }
      deps.onChange?.(tenantId, request.params.name);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/admin/oncall/:name/overrides',
    {
      schema: {
        summary: 'Put a member on call for a time range',
        tags: ['oncall'],
        params: NameParams,
        body: OverrideBody,
        response: { 201: RosterView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const record = await stored(tenantId, request.params.name);
      const override = { id: newId(), ...request.body };
      const saved = await save(tenantId, {
        ...record.roster,
        overrides: [...record.roster.overrides, override],
      });
      return reply.code(201).send(view(saved, now()));
    },
  );

  app.delete(
    '/v1/admin/oncall/:name/overrides/:id',
    {
      schema: {
        summary: 'Remove an override',
        tags: ['oncall'],
        params: Type.Object({
          name: Type.String({ pattern: ROSTER_NAME_PATTERN }),
          id: Type.String({ minLength: 1, maxLength: 64 }),
        }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.principal;
      const record = await stored(tenantId, request.params.name);
      const overrides = record.roster.overrides.filter((o) => o.id !== request.params.id);
      if (overrides.length === record.roster.overrides.length) {
        throw new PigeonError(
          'PIGEON_ERR_NOT_FOUND',
          `No override "${request.params.id}" in "${request.params.name}"`,
        );
      }
      await save(tenantId, { ...record.roster, overrides });
      return reply.code(204).send(null);
    },
  );
}
