import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import { DEFAULT_DEDUP_WINDOW_SECONDS, TenantMessagingPolicyCache } from '../../../core/messaging-policy.ts';
import { WEEKDAYS } from '../../../core/oncall.ts';
import { LOCAL_TIME_PATTERN } from '../../../core/quiet-hours.ts';
import type { LocalWindow, TenantMessagingPolicy } from '../../../core/store/kinds/messaging-policy.ts';
import type { Store } from '../../../core/store/store.ts';
import { Problem } from '../schemas.ts';

export interface MessagingPolicyRoutesDeps {
  store: Store;
  /** The policy cache of this process's send policy, told of every write; default: the store's shared one. */
  cache?: TenantMessagingPolicyCache;
  now?: () => number;
}

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 413: Problem, 503: Problem };

const Window = Type.Object(
  {
    start: Type.String({ pattern: LOCAL_TIME_PATTERN, description: 'Local time HH:MM the window starts' }),
    end: Type.String({
      pattern: LOCAL_TIME_PATTERN,
      description: 'Local time HH:MM it ends; at or before `start`: the next day',
    }),
  },
  { additionalProperties: false },
);
const ByWeekday = Type.Object(
  Object.fromEntries(WEEKDAYS.map((day) => [day, Type.Optional(Type.Union([Window, Type.Null()]))])),
  {
    additionalProperties: false,
    description:
      'The window starting on that weekday, or null for none; absent weekdays: the every-day window',
  },
);
const QuietHours = Type.Union(
  [
    Type.Object(
      {
        start: Window.properties.start,
        end: Window.properties.end,
        byWeekday: Type.Optional(ByWeekday),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  {
    description:
      "Marketing messages are held while the recipient's local clock is in the window, and released at its end; null: none",
  },
);
const cap = (period: string) =>
  Type.Union([Type.Integer({ minimum: 0, maximum: 10_000 }), Type.Null()], {
    description: `Marketing messages to one number per local ${period}; 0 or null: no cap`,
  });
const Policy = {
  quietHours: QuietHours,
  marketingPerDay: cap('day'),
  marketingPerWeek: cap('ISO week (Monday to Sunday)'),
  dedupWindowSeconds: Type.Union([Type.Integer({ minimum: 0, maximum: 86_400 }), Type.Null()], {
    description: `How long the same message to the same number is sent once; 0: off; null: ${DEFAULT_DEDUP_WINDOW_SECONDS}`,
  }),
  smartEncoding: Type.Boolean({
    description: 'Look-alike characters (curly quotes, dashes…) may be replaced by GSM-7 equivalents',
  }),
};
const PolicyBody = Type.Object(
  {
    quietHours: Type.Optional(Policy.quietHours),
    marketingPerDay: Type.Optional(Policy.marketingPerDay),
    marketingPerWeek: Type.Optional(Policy.marketingPerWeek),
    dedupWindowSeconds: Type.Optional(Policy.dedupWindowSeconds),
    smartEncoding: Type.Optional(Policy.smartEncoding),
  },
  { additionalProperties: false },
);
const PolicyView = Type.Object({
  tenantId: Type.String(),
  ...Policy,
  updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'null: never set',
  }),
});
const TenantParams = Type.Object({ tenantId: Type.String({ minLength: 1, maxLength: 64 }) });

/** An empty window would hold nothing, which is never what a tenant meant to write. */
function requireSpan(window: LocalWindow, field: string): void {
  if (window.start === window.end) {
    throw new PigeonError('PIGEON_ERR_VALIDATION', 'A quiet window must not start and end at the same time', {
      errors: [{ field, message: 'start equals end' }],
    });
  }
}

/**
 * `/v1/admin/tenants/:tenantId/messaging-policy`: a tenant's quiet hours, marketing frequency
 * caps, dedup window and smart-encoding choice. Needs the `admin` scope. A write is in force at
 * once on this api process and within seconds on the others and on every bridge
 * (core/messaging-policy.ts).
 */
export async function messagingPolicyRoutes(fastify: FastifyInstance, deps: MessagingPolicyRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  const cache = deps.cache ?? TenantMessagingPolicyCache.for(deps.store);
  app.addHook('onRequest', app.requireScope('admin'));

  const view = (tenantId: string, policy: TenantMessagingPolicy | undefined) => ({
    tenantId,
    quietHours: policy?.quietHours ?? null,
    marketingPerDay: policy?.marketingPerDay ?? null,
    marketingPerWeek: policy?.marketingPerWeek ?? null,
    dedupWindowSeconds: policy?.dedupWindowSeconds ?? null,
    smartEncoding: policy?.smartEncoding ?? false,
    updatedAt: policy ? new Date(policy.updatedAt).toISOString() : null,
  });

  app.get(
    '/v1/admin/tenants/:tenantId/messaging-policy',
    {
      schema: {
        summary: "A tenant's messaging policy: quiet hours, frequency caps, dedup, smart encoding",
        tags: ['admin'],
        params: TenantParams,
        response: { 200: PolicyView, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      return view(tenantId, await deps.store.getTenantMessagingPolicy(tenantId));
    },
  );

  app.put(
    '/v1/admin/tenants/:tenantId/messaging-policy',
    {
      bodyLimit: 16 * 1024,
      schema: {
        summary: "Set a tenant's messaging policy",
        description:
          "Replaces the tenant's policy; a missing field is off (the dedup window: its default of 10 minutes). Quiet hours and the caps' days and weeks are the recipient's local time, from the country and area of its number.",
        tags: ['admin'],
        params: TenantParams,
        body: PolicyBody,
        response: { 200: PolicyView, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      const body = request.body;
      const quietHours = body.quietHours ?? null;
      if (quietHours) {
        requireSpan(quietHours, '/quietHours');
        for (const [day, window] of Object.entries(quietHours.byWeekday ?? {})) {
          if (window) requireSpan(window, `/quietHours/byWeekday/${day}`);
        }
      }
      const policy: TenantMessagingPolicy = {
        quietHours,
        marketingPerDay: body.marketingPerDay ?? null,
        marketingPerWeek: body.marketingPerWeek ?? null,
        dedupWindowSeconds: body.dedupWindowSeconds ?? null,
        smartEncoding: body.smartEncoding ?? false,
        updatedAt: now(),
      };
      await deps.store.putTenantMessagingPolicy(tenantId, policy);
      cache.forget(tenantId);
      return view(tenantId, policy);
    },
  );
}
