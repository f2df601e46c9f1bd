import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { TenantOtpSettings } from '../../../core/store/kinds/otp-settings.ts';
import type { Store } from '../../../core/store/store.ts';
import { Problem } from '../schemas.ts';
import { TenantOtpSettingsCache } from '../verify/tenant-settings.ts';

export interface TenantSettingsRoutesDeps {
  store: Store;
  /** The verification services' cache of these settings, told of every write; default: the store's shared one. */
  cache?: TenantOtpSettingsCache;
  now?: () => number;
}

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 503: Problem };

const Countries = Type.Union(
  [
    Type.Array(Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2, e.g. GB' }), {
      minItems: 1,
      maxItems: 250,
      uniqueItems: true,
    }),
    Type.Null(),
  ],
  { description: 'Where this tenant may send codes; null: PIGEON_OTP_ALLOWED_COUNTRIES' },
);
const SpendCap = Type.Union([Type.Number({ minimum: 0, maximum: 1_000_000_000 }), Type.Null()], {
  description:
    'Estimated OTP spend per UTC day (parts × the route table price for the country, else PIGEON_SEND_PRICE_PER_PART), 0 = no cap; null: PIGEON_OTP_DAILY_SPEND_CAP',
});

const SettingsBody = Type.Object(
  { allowedCountries: Countries, dailySpendCap: SpendCap },
  { additionalProperties: false },
);
const SettingsView = Type.Object({
  tenantId: Type.String(),
  allowedCountries: Countries,
  dailySpendCap: SpendCap,
  updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'null: never set',
  }),
});
const TenantParams = Type.Object({ tenantId: Type.String({ minLength: 1, maxLength: 64 }) });

/**
 * `/v1/admin/tenants/:tenantId/otp-settings`: a tenant's overrides of the gateway-wide OTP
 * allowlist and daily spend cap. Needs the `admin` scope, which is the operator's (like the
 * routing admin API it reaches every tenant). A write is in force at once on this api process and
 * within seconds on the others (api/src/verify/tenant-settings.ts).
 */
export async function tenantSettingsRoutes(fastify: FastifyInstance, deps: TenantSettingsRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  const cache = deps.cache ?? TenantOtpSettingsCache.for(deps.store);
  app.addHook('onRequest', app.requireScope('admin'));

  const view = (tenantId: string, settings: TenantOtpSettings | undefined) => ({
    tenantId,
    allowedCountries: settings?.allowedCountries ?? null,
    dailySpendCap: settings?.dailySpendCap ?? null,
    updatedAt: settings ? new Date(settings.updatedAt).toISOString() : null,
  });

  app.get(
    '/v1/admin/tenants/:tenantId/otp-settings',
    {
      schema: {
        summary: "A tenant's OTP allowlist and spend cap overrides (null: the gateway default)",
        tags: ['admin'],
        params: TenantParams,
        response: { 200: SettingsView, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      return view(tenantId, await deps.store.getTenantOtpSettings(tenantId));
    },
  );

  app.put(
    '/v1/admin/tenants/:tenantId/otp-settings',
    {
      schema: {
        summary: "Set a tenant's OTP allowlist and spend cap overrides",
        description:
          'Both fields are required; null puts the field back to the gateway default (PIGEON_OTP_ALLOWED_COUNTRIES, PIGEON_OTP_DAILY_SPEND_CAP).',
        tags: ['admin'],
        params: TenantParams,
        body: SettingsBody,
        response: { 200: SettingsView, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      const settings: TenantOtpSettings = {
        allowedCountries: request.body.allowedCountries,
        dailySpendCap: request.body.dailySpendCap,
        updatedAt: now(),
      };
      await deps.store.putTenantOtpSettings(tenantId, settings);
      cache.forget(tenantId);
      return view(tenantId, settings);
    },
  );
}
