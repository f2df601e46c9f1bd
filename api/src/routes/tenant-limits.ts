import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { MESSAGE_CLASSES, type MessageClass } from '../../../core/message.ts';
import type { RecipientCaps, TenantSendLimits } from '../../../core/store/kinds/send-limits.ts';
import type { Store } from '../../../core/store/store.ts';
import { Problem } from '../schemas.ts';
import { TenantSendLimitsCache } from '../send-policy/tenant-limits.ts';

export interface TenantLimitsRoutesDeps {
  store: Store;
  /** The send policy's cache of these limits, told of every write; default: the store's shared one. */
  cache?: TenantSendLimitsCache;
  now?: () => number;
}

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 413: Problem, 503: Problem };

const count = (setting: string, description: string) =>
  Type.Union([Type.Integer({ minimum: 0, maximum: 1_000_000 }), Type.Null()], {
    description: `${description}, 0 = off; null: ${setting}`,
  });
const amount = (setting: string, description: string) =>
  Type.Union([Type.Number({ minimum: 0, maximum: 1_000_000_000 }), Type.Null()], {
    description: `${description}, 0 = no cap; null: ${setting}`,
  });

const Caps = {
  perRecipientHour: count('PIGEON_SEND_PER_RECIPIENT_HOUR', 'Messages to one number per hour'),
  perRecipientDay: count('PIGEON_SEND_PER_RECIPIENT_DAY', 'Messages to one number per day'),
};
const ClassCaps = Type.Object(Caps, { additionalProperties: false });
const Classes = Type.Object(
  {
    transactional: Type.Optional(ClassCaps),
    marketing: Type.Optional(ClassCaps),
    otp: Type.Optional(ClassCaps),
    alert: Type.Optional(ClassCaps),
  },
  {
    additionalProperties: false,
    description: "Per-recipient caps of one message class; null fields: the tenant's",
  },
);
const Limits = {
  ratePerSecond: count('PIGEON_SEND_RATE_PER_SECOND', 'Sends per second'),
  burst: Type.Union([Type.Integer({ minimum: 1, maximum: 10_000_000 }), Type.Null()], {
    description: 'Sends at once above the rate; null: PIGEON_SEND_BURST',
  }),
  ...Caps,
  dailySpendCap: amount('PIGEON_SEND_DAILY_SPEND_CAP', 'Estimated spend per UTC day'),
  monthlySpendCap: amount('PIGEON_SEND_MONTHLY_SPEND_CAP', 'Estimated spend per UTC month'),
};
const LimitsBody = Type.Object(
  {
    ratePerSecond: Type.Optional(Limits.ratePerSecond),
    burst: Type.Optional(Limits.burst),
    perRecipientHour: Type.Optional(Limits.perRecipientHour),
    perRecipientDay: Type.Optional(Limits.perRecipientDay),
    dailySpendCap: Type.Optional(Limits.dailySpendCap),
    monthlySpendCap: Type.Optional(Limits.monthlySpendCap),
    classes: Type.Optional(Classes),
  },
  { additionalProperties: false },
);
const LimitsView = Type.Object({
  tenantId: Type.String(),
  ...Limits,
  classes: Classes,
  updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'null: never set',
  }),
});
const TenantParams = Type.Object({ tenantId: Type.String({ minLength: 1, maxLength: 64 }) });

/**
 * `/v1/admin/tenants/:tenantId/limits`: a tenant's overrides of the gateway-wide send policy
 * (PIGEON_SEND_*), for every send path. Needs the `admin` scope. A write is in force at once on this
 * api process and within seconds on the others (api/src/send-policy/tenant-limits.ts).
 */
export async function tenantLimitsRoutes(fastify: FastifyInstance, deps: TenantLimitsRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  const cache = deps.cache ?? TenantSendLimitsCache.for(deps.store);
  app.addHook('onRequest', app.requireScope('admin'));

  const view = (tenantId: string, limits: TenantSendLimits | undefined) => ({
    tenantId,
    ratePerSecond: limits?.ratePerSecond ?? null,
    burst: limits?.burst ?? null,
    perRecipientHour: limits?.perRecipientHour ?? null,
    perRecipientDay: limits?.perRecipientDay ?? null,
    dailySpendCap: limits?.dailySpendCap ?? null,
    monthlySpendCap: limits?.monthlySpendCap ?? null,
    classes: limits?.classes ?? {},
    updatedAt: limits ? new Date(limits.updatedAt).toISOString() : null,
  });

  app.get(
    '/v1/admin/tenants/:tenantId/limits',
    {
      schema: {
        summary: "A tenant's send limits (null: the gateway default)",
        tags: ['admin'],
        params: TenantParams,
        response: { 200: LimitsView, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      return view(tenantId, await deps.store.getTenantSendLimits(tenantId));
    },
  );

  app.put(
    '/v1/admin/tenants/:tenantId/limits',
    {
      bodyLimit: 16 * 1024,
      schema: {
        summary: "Set a tenant's send limits",
        description:
          "Replaces the tenant's limits; a missing or null field is the gateway default (PIGEON_SEND_*). `classes` sets the per-recipient caps of a message class.",
        tags: ['admin'],
        params: TenantParams,
        body: LimitsBody,
        response: { 200: LimitsView, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      const body = request.body;
      const classes: Partial<Record<MessageClass, RecipientCaps>> = {};
      for (const c of MESSAGE_CLASSES) {
        const caps = body.classes?.[c];
        if (caps)
          classes[c] = { perRecipientHour: caps.perRecipientHour, perRecipientDay: caps.perRecipientDay };
      }
      const limits: TenantSendLimits = {
        ratePerSecond: body.ratePerSecond ?? null,
        burst: body.burst ?? null,
        perRecipientHour: body.perRecipientHour ?? null,
        perRecipientDay: body.perRecipientDay ?? null,
        dailySpendCap: body.dailySpendCap ?? null,
        monthlySpendCap: body.monthlySpendCap ?? null,
        classes,
        updatedAt: now(),
      };
      await deps.store.putTenantSendLimits(tenantId, limits);
      cache.forget(tenantId);
      return view(tenantId, limits);
    },
  );
}
