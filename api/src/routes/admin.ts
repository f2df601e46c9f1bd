import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { newId } from '../../../core/ids.ts';
import { MESSAGE_CLASSES } from '../../../core/message.ts';
import { requireE164 } from '../../../core/phone.ts';
import { requireSenderId } from '../../../core/sender-id.ts';
import { countSegments, MAX_SEGMENTS } from '../../../core/segments.ts';
import type { ProviderRecord, RouteRecord } from '../../../core/store/kinds/routing.ts';
import type { Store } from '../../../core/store/store.ts';
import type { ProviderDeps } from '../../../providers/provider.ts';
import { MASK, maskOptions, unmaskOptions } from '../../../providers/masking.ts';
import { createAdapter, type ProviderDefinition } from '../../../providers/registry.ts';
import { planRoute, type RouteSignals } from '../../../routing/plan.ts';
import { checkProviderDefinition, ProviderDefinitionBody } from '../../../routing/provider-definition.ts';
import {
  parseRouteRule,
  PROVIDER_NAME_PATTERN,
  ROUTE_ID_PATTERN,
  ROUTE_STRATEGIES,
  type RouteRule,
  RouteRuleBody,
  ruleProviders,
} from '../../../routing/rules.ts';
import { compileRouteTable } from '../../../routing/table.ts';
import { Problem } from '../schemas.ts';

export interface AdminRoutesDeps {
  store: Store;
  /** The routing catalog of this process, if it has one: refreshed after each write, so it sees the change at once. */
  catalog?: { refresh(): Promise<void> };
  /** What createAdapter needs: every provider definition is built (and closed) before it is stored. */
  providerDeps: ProviderDeps;
  /** Provider health for `simulate` (a HealthBoard fed by the monitor); every provider is healthy without it. */
  health?: { health(provider: string, country: string | undefined): number };
  random?: () => number;
}

/**
 * Admin bodies are small definitions; the cap keeps a client from making the API parse megabytes
 * of JSON. The depth cap protects every recursive walk over provider options (masking, building).
 */
export const ADMIN_BODY_LIMIT = 64 * 1024;
export const MAX_OPTION_DEPTH = 16;

const errorResponses = {
  400: Problem,
  401: Problem,
  403: Problem,
  404: Problem,
  409: Problem,
  413: Problem,
  503: Problem,
};
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const ProviderView = Type.Object({
  name: Type.String(),
  type: Type.String(),
  enabled: Type.Boolean(),
  updatedAt: Type.String({ format: 'date-time' }),
  definition: Type.Record(Type.String(), Type.Unknown(), {
    description: `The definition as stored; every option not known to be harmless shown as ${MASK}: header values, body templates, URL userinfo and query values, credentials`,
  }),
});

const RouteEntryView = Type.Object({
  provider: Type.String(),
  weight: Type.Number(),
  senderId: Type.Optional(Type.String()),
});

const RouteView = Type.Object({
  id: Type.String(),
  name: Type.Optional(Type.String()),
  priority: Type.Integer(),
  tenantId: Type.Optional(Type.String()),
  country: Type.Optional(Type.String()),
  prefix: Type.Optional(Type.String()),
  messageClass: Type.Optional(Type.String()),
  strategy: Type.Optional(Type.Enum(ROUTE_STRATEGIES)),
  qualityFloor: Type.Optional(Type.Number()),
  tiers: Type.Optional(Type.Array(Type.Array(RouteEntryView))),
  enabled: Type.Boolean(),
  updatedAt: Type.String({ format: 'date-time' }),
  problem: Type.Optional(Type.String({ description: 'Why the bridges ignore this stored route' })),
});

const SimulateBody = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 32, description: 'Recipient in E.164' }),
    class: Type.Enum(MESSAGE_CLASSES),
    tenantId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: "Default: the API key's tenant" }),
    ),
    body: Type.Optional(Type.String({ maxLength: 1600, description: 'Text, to count segments' })),
    segments: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SEGMENTS })),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
  },
  { additionalProperties: false },
);

const RoutePlanView = Type.Object({
  routeId: Type.String(),
  routeName: Type.Optional(Type.String()),
  strategy: Type.Enum(ROUTE_STRATEGIES),
  country: Nullable(Type.String()),
  segments: Type.Integer(),
  order: Type.Array(Type.String(), { description: 'Providers in the order they would be tried' }),
  candidates: Type.Array(
    Type.Object({
      provider: Type.String(),
      tier: Type.Integer(),
      weight: Type.Number(),
      health: Type.Number(),
      effectiveWeight: Type.Number(),
      costPerMessage: Nullable(Type.Number()),
      senderId: Type.Optional(Type.String()),
      excluded: Type.Optional(Type.String()),
    }),
  ),
  explanation: Type.Array(Type.String()),
});

const NameParams = Type.Object({ name: Type.String({ pattern: PROVIDER_NAME_PATTERN }) });
const IdParams = Type.Object({ id: Type.String({ pattern: ROUTE_ID_PATTERN }) });

/**
 * `/v1/admin/providers` and `/v1/admin/routes`: providers and routing rules as data, changed at
 * runtime. Every bridge and API polls the store (routing/catalog.ts), so a
 * change is in force everywhere within seconds. Every call needs the `admin` scope.
 */
export async function adminRoutes(fastify: FastifyInstance, deps: AdminRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const random = deps.random ?? Math.random;

  app.addHook('onRequest', app.requireScope('admin'));

  const written = async () => {
    // The write is stored; a catalog that fails to reload here catches up at its next poll.
    await deps.catalog?.refresh().catch(() => undefined);
  };

  app.get(
    '/v1/admin/providers',
    {
      schema: {
        summary: 'Every provider definition, credentials masked',
        tags: ['admin'],
        response: { 200: Type.Object({ providers: Type.Array(ProviderView) }), ...errorResponses },
      },
    },
    async () => ({ providers: (await deps.store.listProviders()).map(providerView) }),
  );

  app.put(
    '/v1/admin/providers/:name',
    {
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        summary: 'Create or replace a provider; the definition is built once to check it',
        description: `An option (or URL part) sent as ${MASK} keeps the stored value at that position, so a definition read with GET can be sent back. A new provider is disabled until a PUT sets \`enabled: true\`; a replacement without \`enabled\` keeps the stored state.`,
        tags: ['admin'],
        params: NameParams,
        body: ProviderDefinitionBody,
        response: { 200: ProviderView, 201: ProviderView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (request.body.name !== undefined && request.body.name !== name) {
        throw new PigeonError(
          'PIGEON_ERR_VALIDATION',
          `body names "${request.body.name}", the path "${name}"`,
          {
            errors: [{ field: '/name', message: 'must equal the name in the path' }],
          },
        );
      }
      const stored = (await deps.store.listProviders()).find((p) => p.name === name);
      const { name: _name, options, ...rest } = request.body;
      const definition: ProviderDefinition = { name, ...rest };
      // A new provider would join the default route at once; it carries traffic only once enabled.
      definition.enabled = rest.enabled ?? stored?.enabled ?? false;
      if (options !== undefined) {
        checkNesting(options, MAX_OPTION_DEPTH, '/options');
        definition.options = unmaskOptions(definition.type, options, stored?.definition.options);
      }
      checkProviderDefinition(definition);
      // Sent as the message's sender when neither the message nor the route names one.
      if (definition.senderId !== undefined) requireSenderId(definition.senderId, 'senderId');
      await tryBuild(definition, deps.providerDeps);
      await deps.store.putProvider(definition);
      await written();
      const record = (await deps.store.listProviders()).find((p) => p.name === name);
      if (!record) throw new PigeonError('PIGEON_ERR_CONFLICT', `provider "${name}" was deleted meanwhile`);
      return reply.code(stored ? 200 : 201).send(providerView(record));
    },
  );

  app.delete(
    '/v1/admin/providers/:name',
    {
      schema: {
        summary: 'Delete a provider that no route names',
        tags: ['admin'],
        params: NameParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const users = (await deps.store.listRoutes()).filter((r) => storedRuleProviders(r).includes(name));
      if (users.length > 0) {
        throw new PigeonError(
          'PIGEON_ERR_CONFLICT',
          `provider "${name}" is named by route(s) ${users.map((r) => r.id).join(', ')}; change them first, or disable the provider`,
        );
      }
      if (!(await deps.store.deleteProvider(name))) {
        throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No provider named "${name}"`);
      }
      await written();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/admin/routes',
    {
      schema: {
        summary: 'Every routing rule, by priority',
        tags: ['admin'],
        response: { 200: Type.Object({ routes: Type.Array(RouteView) }), ...errorResponses },
      },
    },
    async () => ({ routes: (await deps.store.listRoutes()).map(routeView) }),
  );

  const checkedRule = async (id: string, body: unknown): Promise<RouteRule> => {
    const rule = parseRouteRule({ ...(body as object), id });
    const known = new Set((await deps.store.listProviders()).map((p) => p.name));
    const errors: Array<{ field: string; message: string }> = [];
    rule.tiers.forEach((tier, t) =>
      tier.forEach((entry, e) => {
        if (entry.senderId !== undefined) requireSenderId(entry.senderId, `tiers/${t}/${e}/senderId`);
        if (!known.has(entry.provider)) {
          errors.push({
            field: `/tiers/${t}/${e}/provider`,
            message: `no provider named "${entry.provider}"`,
          });
        }
      }),
    );
    if (errors.length > 0) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', errors.map((e) => e.message).join('; '), { errors });
    }
    return rule;
  };

  const storedRoute = async (id: string) => {
    const record = (await deps.store.listRoutes()).find((r) => r.id === id);
    if (!record) throw new PigeonError('PIGEON_ERR_CONFLICT', `route "${id}" was deleted meanwhile`);
    return routeView(record);
  };

  app.post(
    '/v1/admin/routes',
    {
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        summary: 'Add a routing rule; the server assigns its id',
        tags: ['admin'],
        body: RouteRuleBody,
        response: { 201: RouteView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const rule = await checkedRule(newId(), request.body);
      await deps.store.putRoute(rule);
      await written();
      return reply.code(201).send(await storedRoute(rule.id));
    },
  );

  app.put(
    '/v1/admin/routes/:id',
    {
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        summary: 'Replace a routing rule',
        tags: ['admin'],
        params: IdParams,
        body: RouteRuleBody,
        response: { 200: RouteView, ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (!(await deps.store.listRoutes()).some((r) => r.id === id)) {
        throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No route with id "${id}" (POST creates routes)`);
      }
      const rule = await checkedRule(id, request.body);
      await deps.store.putRoute(rule);
      await written();
      return storedRoute(id);
    },
  );

  app.delete(
    '/v1/admin/routes/:id',
    {
      schema: {
        summary: 'Delete a routing rule',
        tags: ['admin'],
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await deps.store.deleteRoute(request.params.id))) {
        throw new PigeonError('PIGEON_ERR_NOT_FOUND', `No route with id "${request.params.id}"`);
      }
      await written();
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/admin/routes/simulate',
    {
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        summary: 'Which providers a message would be offered to, in what order, and why',
        description:
          'Plans with the stored routes and providers and the current provider health. Weighted orders are drawn at random, so two calls may differ; `candidates` shows the weights behind the draw.',
        tags: ['admin'],
        body: SimulateBody,
        response: { 200: RoutePlanView, ...errorResponses },
      },
    },
    async (request) => {
      const { body } = request;
      if (body.body !== undefined && body.segments !== undefined) {
        throw new PigeonError('PIGEON_ERR_VALIDATION', 'give either body or segments, not both', {
          errors: [{ field: '/segments', message: 'not allowed together with body' }],
        });
      }
      const recipient = requireE164(body.to, 'to');
      if (body.from !== undefined) requireSenderId(body.from, 'from');
      const segments = body.segments ?? (body.body === undefined ? 1 : countSegments(body.body).segments);
      const [providers, routes] = await Promise.all([deps.store.listProviders(), deps.store.listRoutes()]);
      const table = compileRouteTable(validRules(routes), validDefinitions(providers));
      const health = deps.health;
      const signals: RouteSignals = health ? { health: (p, c) => health.health(p, c) } : {};
      const result = planRoute(
        table,
        {
          tenantId: body.tenantId ?? request.principal.tenantId,
          to: recipient.e164,
          country: recipient.country,
          messageClass: body.class,
          segments,
          from: body.from,
        },
        signals,
        random,
      );
      return { ...result, country: recipient.country ?? null, segments };
    },
  );
}

/** Builds the adapter once and closes it: the factory is what knows whether its options are usable. */
async function tryBuild(definition: ProviderDefinition, providerDeps: ProviderDeps): Promise<void> {
  let adapter;
  try {
    adapter = createAdapter(definition, providerDeps);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new PigeonError('PIGEON_ERR_VALIDATION', `provider definition does not build: ${detail}`, {
      errors: [{ field: '/', message: detail }],
    });
  }
  await adapter.close?.();
}

function providerView(record: ProviderRecord) {
  const definition = { ...record.definition };
  if (definition.options && typeof definition.options === 'object') {
    definition.options = maskOptions(record.type, definition.options as Record<string, unknown>);
  }
  return {
    name: record.name,
    type: record.type,
    enabled: record.enabled,
    updatedAt: new Date(record.updatedAt).toISOString(),
    definition,
  };
}

function routeView(record: RouteRecord) {
  const updatedAt = new Date(record.updatedAt).toISOString();
  try {
    return { ...parseRouteRule(record.definition), updatedAt };
  } catch (err) {
    return {
      id: record.id,
      priority: record.priority,
      enabled: record.enabled,
      updatedAt,
      problem: err instanceof Error ? err.message : String(err),
    };
  }
}

/**
 * Refuses values nested deeper than `max` objects or arrays. Breadth first, without recursion:
 * the point is to stop a body that would overflow the stack of the recursive walks after it.
 */
function checkNesting(value: unknown, max: number, path: string): void {
  const isContainer = (v: unknown): v is object => typeof v === 'object' && v !== null;
  let level = isContainer(value) ? [value] : [];
  for (let depth = 1; level.length > 0; depth++) {
    if (depth > max) {
      throw new PigeonError('PIGEON_ERR_VALIDATION', `${path} is nested more than ${max} levels deep`, {
        errors: [{ field: path, message: `at most ${max} levels of objects and arrays` }],
      });
    }
    level = level.flatMap((v) => Object.values(v).filter(isContainer));
  }
}

function storedRuleProviders(record: RouteRecord): string[] {
  const tiers = (record.definition as { tiers?: unknown }).tiers;
  if (!Array.isArray(tiers)) return [];
  return ruleProviders({
    tiers: tiers
      .filter(Array.isArray)
      .map((tier: unknown[]) =>
        tier.map((e) => ({ provider: String((e as { provider?: unknown }).provider), weight: 0 })),
      ),
  });
}

function validRules(records: RouteRecord[]): RouteRule[] {
  return records.flatMap((r) => {
    try {
      return [parseRouteRule(r.definition)];
    } catch {
      return [];
    }
  });
}

function validDefinitions(records: ProviderRecord[]): ProviderDefinition[] {
  return records.flatMap((r) => {
    try {
      return [checkProviderDefinition(r.definition)];
    } catch {
      return [];
    }
  });
}
