import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { DEFAULT_OPT_OUT_SETTINGS, type OptOutSettings } from '../../../core/opt-out.ts';
import type { Store } from '../../../core/store/store.ts';
import { Problem } from '../schemas.ts';
import { ADMIN_BODY_LIMIT } from './admin.ts';

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 413: Problem, 503: Problem };
const TenantId = Type.String({ minLength: 1, maxLength: 64, description: "Default: the API key's tenant" });
const Words = Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { maxItems: 50 });
const Reply = Type.String({ minLength: 1, maxLength: 320 });

const Settings = Type.Object(
  {
    keywords: Type.Object(
      { stop: Words, stopAll: Words, start: Words, help: Words },
      {
        additionalProperties: false,
        description: 'Whole-text keywords, matched case- and width-insensitively',
      },
    ),
    replies: Type.Object(
      { stop: Type.Optional(Reply), start: Type.Optional(Reply), help: Type.Optional(Reply) },
      {
        additionalProperties: false,
        description: 'Auto-replies, sent from the sender the keyword went to; none when absent',
      },
    ),
  },
  { additionalProperties: false },
);

function view(settings: OptOutSettings) {
  const { keywords, replies } = settings;
  return {
    keywords: {
      stop: [...keywords.stop],
      stopAll: [...keywords.stopAll],
      start: [...keywords.start],
      help: [...keywords.help],
    },
    replies: { ...replies },
  };
}

/**
 * `/v1/admin/opt-out`: a tenant's opt-out keyword lists and auto-replies (core/opt-out.ts has the
 * defaults). Needs `admin`: the words decide who stops hearing from the tenant.
 */
export async function optOutAdminRoutes(
  fastify: FastifyInstance,
  deps: { store: Store; now?: () => number },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  app.addHook('onRequest', app.requireScope('admin'));

  app.get(
    '/v1/admin/opt-out',
    {
      schema: {
        summary: "A tenant's opt-out keywords and auto-replies (the defaults until set)",
        tags: ['admin'],
        querystring: Type.Object({ tenantId: Type.Optional(TenantId) }, { additionalProperties: false }),
        response: { 200: Settings, ...errorResponses },
      },
    },
    async (request) => {
      const tenantId = request.query.tenantId ?? request.principal.tenantId;
      return view((await deps.store.getOptOutSettings(tenantId)) ?? DEFAULT_OPT_OUT_SETTINGS);
    },
  );

  app.put(
    '/v1/admin/opt-out',
    {
      bodyLimit: ADMIN_BODY_LIMIT,
      schema: {
        summary: "Replace a tenant's opt-out keywords and auto-replies",
        tags: ['admin'],
        querystring: Type.Object({ tenantId: Type.Optional(TenantId) }, { additionalProperties: false }),
        body: Settings,
        response: { 200: Settings, ...errorResponses },
      },
    },
    async (request) => {
      const tenantId = request.query.tenantId ?? request.principal.tenantId;
      const settings: OptOutSettings = request.body;
      await deps.store.putOptOutSettings(tenantId, settings, now());
      return view(settings);
    },
  );
}
