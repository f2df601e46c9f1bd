import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { TENANT_STATUSES, type TenantRecord, type TenantStatus } from '../../../core/store/kinds/tenants.ts';
import type { Store } from '../../../core/store/store.ts';
import type { CredentialChanges } from '../credential-changes.ts';
import { Problem } from '../schemas.ts';

export interface TenantRoutesDeps {
  store: Store;
  credentialChanges: CredentialChanges;
  now?: () => number;
}

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 503: Problem };

/** What a tenant id may be: what api_keys.tenant_id and every other tenant column hold. */
export const TenantId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  description: 'Letters, digits, ".", "_" and "-", up to 64, e.g. acme-prod',
});
export const TenantParams = Type.Object({ tenantId: TenantId });

const TenantView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.Enum(TENANT_STATUSES, { description: 'suspended: every key of the tenant is refused' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const CreateTenantBody = Type.Object(
  { id: TenantId, name: Type.String({ minLength: 1, maxLength: 255 }) },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ maxLength: 64, description: 'The last id of the previous page' })),
    limit: Type.Optional(
      Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: 'Page size, 1–999 (default 100)' }),
    ),
  },
  { additionalProperties: false },
);

const tenantView = (tenant: TenantRecord) => ({
  id: tenant.id,
  name: tenant.name,
  status: tenant.status,
  createdAt: new Date(tenant.createdAt).toISOString(),
  updatedAt: new Date(tenant.updatedAt).toISOString(),
});

/**
 * `/v1/admin/tenants`: create, list, read, suspend and resume tenants. Needs the `admin` scope,
 * the operator's. A tenant need not be created for its keys to work (absence means active, so
 * keys from before tenants existed keep working); creating it is what lets an operator suspend
 * it. A suspension (and a resumption) reaches every api process within a second through the bus
 * (credential-changes.ts).
 */
export async function tenantRoutes(fastify: FastifyInstance, deps: TenantRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  app.addHook('onRequest', app.requireScope('admin'));

  const existing = async (tenantId: string): Promise<TenantRecord> => {
    const tenant = await deps.store.getTenant(tenantId);
    if (!tenant)
      throw new PigeonError(
        'PIGEON_ERR_NOT_FOUND',
        `No tenant "${tenantId}" (POST /v1/admin/tenants creates one)`,
      );
    return tenant;
  };

  app.post(
    '/v1/admin/tenants',
    {
      schema: {
        summary: 'Create a tenant',
        description:
          'Its id is the one its keys carry: creating a tenant whose keys exist already (made by `pigeon create-api-key`) adopts them.',
        tags: ['admin'],
        body: CreateTenantBody,
        response: { 201: TenantView, 409: Problem, ...errorResponses },
      },
    },
    async (request, reply) => {
      const at = now();
      const tenant: TenantRecord = {
        id: request.body.id,
        name: request.body.name,
        status: 'active',
        createdAt: at,
        updatedAt: at,
      };
      if (!(await deps.store.createTenant(tenant))) {
        throw new PigeonError('PIGEON_ERR_CONFLICT', `Tenant "${tenant.id}" exists already`);
      }
      return reply.code(201).send(tenantView(tenant));
    },
  );

  app.get(
    '/v1/admin/tenants',
    {
      schema: {
        summary: 'Tenants in id order',
        description: 'Tenants that were never created (keys only) are not listed.',
        tags: ['admin'],
        querystring: ListQuery,
        response: {
          200: Type.Object({
            tenants: Type.Array(TenantView),
            nextAfter: Type.Union([Type.String(), Type.Null()], {
              description: 'Pass as `after` for the next page; null on the last',
            }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? '100');
      const rows = await deps.store.listTenants({
        ...(request.query.after === undefined ? {} : { after: request.query.after }),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      return { tenants: page.map(tenantView), nextAfter: rows.length > limit ? page.at(-1)!.id : null };
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId',
    {
      schema: {
        summary: 'One tenant',
        tags: ['admin'],
        params: TenantParams,
        response: { 200: TenantView, 404: Problem, ...errorResponses },
      },
    },
    async (request) => tenantView(await existing(request.params.tenantId)),
  );

  const setStatus = async (tenantId: string, status: TenantStatus) => {
    const tenant = await existing(tenantId);
    if (tenant.status !== status) await deps.store.setTenantStatus(tenantId, status, now());
    // Announced even when the status was already this one: a retry after the bus failed to take
    // the first announcement must reach the other processes.
    await deps.credentialChanges.announce({ kind: 'tenant', tenantId });
    return tenantView(await existing(tenantId));
  };

  app.post(
    '/v1/admin/tenants/:tenantId/suspend',
    {
      schema: {
        summary: 'Suspend a tenant: every one of its keys is refused, on every route',
        description:
          'Refused with 403 PIGEON_ERR_TENANT_SUSPENDED within a second on every API instance. Nothing is deleted; resume undoes it.',
        tags: ['admin'],
        params: TenantParams,
        response: { 200: TenantView, 404: Problem, 409: Problem, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      // The key asking would be refused too, and with it perhaps the only way back in.
      if (tenantId === request.principal.tenantId) {
        throw new PigeonError(
          'PIGEON_ERR_CONFLICT',
          'This key belongs to the tenant: suspend it with an admin key of another tenant',
        );
      }
      return setStatus(tenantId, 'suspended');
    },
  );

  app.post(
    '/v1/admin/tenants/:tenantId/resume',
    {
      schema: {
        summary: 'Resume a suspended tenant: its keys (those not revoked or expired) work again',
        tags: ['admin'],
        params: TenantParams,
        response: { 200: TenantView, 404: Problem, ...errorResponses },
      },
    },
    async (request) => setStatus(request.params.tenantId, 'active'),
  );
}
