import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { PigeonError } from '../core/errors.ts';
import { MESSAGE_CLASSES, type MessageClass } from '../core/message.ts';

export const ROUTE_STRATEGIES = ['weighted', 'least_cost'] as const;
export type RouteStrategy = (typeof ROUTE_STRATEGIES)[number];

/** Health a provider needs to compete on price in a `least_cost` route, when the rule names none. */
export const DEFAULT_QUALITY_FLOOR = 0.5;
export const DEFAULT_ROUTE_PRIORITY = 100;

/** Provider names appear in receipt webhook paths (`/v1/receipts/:provider`), hence the tight alphabet. */
export const PROVIDER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
/** Server-assigned ids are ULIDs; ids written in PIGEON_CONFIG may be readable words (`uk-otp`). */
export const ROUTE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

/** One provider of a route tier. */
export interface RouteEntry {
  provider: string;
  /** Share of the tier's traffic, relative to the other entries (≥ 0; 0 keeps it as a last resort). */
  weight: number;
  /** Sender id for messages routed here; else the provider's, else the message's own. */
  senderId?: string;
}

/**
 * A routing rule: which messages it applies to (every criterion it names must match) and the
 * providers to offer them to. The most specific matching rule wins — tenant, then longer prefix,
 * then country, then class — and `priority` (lower first) decides among equally specific rules.
 */
export interface RouteRule {
  id: string;
  name?: string;
  priority: number;
  tenantId?: string;
  /** ISO 3166 alpha-2 of the destination. */
  country?: string;
  /** Leading E.164 digits of the recipient, without the `+`. */
  prefix?: string;
  messageClass?: MessageClass;
  strategy: RouteStrategy;
  /** For `least_cost`: providers below this health (0..1) only follow the ones above it. */
  qualityFloor?: number;
  /** Tier 0 is tried first; each later tier is the failover of the one before. */
  tiers: RouteEntry[][];
  enabled: boolean;
}

const RouteEntrySchema = Type.Object(
  {
    provider: Type.String({ pattern: PROVIDER_NAME_PATTERN }),
    weight: Type.Number({ minimum: 0, maximum: 1_000_000 }),
    senderId: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
  },
  { additionalProperties: false },
);

const ruleProperties = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  priority: Type.Optional(
    Type.Integer({
      minimum: -1_000_000,
      maximum: 1_000_000,
      description: 'Lower wins among equally specific',
    }),
  ),
  tenantId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166 alpha-2' })),
  prefix: Type.Optional(
    Type.String({ pattern: '^[1-9][0-9]{0,14}$', description: 'Leading E.164 digits, without +' }),
  ),
  messageClass: Type.Optional(Type.Enum(MESSAGE_CLASSES)),
  strategy: Type.Optional(Type.Enum(ROUTE_STRATEGIES)),
  qualityFloor: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  tiers: Type.Array(Type.Array(RouteEntrySchema, { minItems: 1, maxItems: 32 }), {
    minItems: 1,
    maxItems: 8,
    description: 'Tier 0 first; later tiers are failover',
  }),
  enabled: Type.Optional(Type.Boolean()),
};

/** A route as a client writes it: no id (the server assigns one); defaults fill what is left out. */
export const RouteRuleBody = Type.Object(ruleProperties, { additionalProperties: false });

/** A route as stored and listed. */
export const RouteRuleSchema = Type.Object(
  {
    id: Type.String({ pattern: ROUTE_ID_PATTERN }),
    ...ruleProperties,
    priority: Type.Integer(),
    strategy: Type.Enum(ROUTE_STRATEGIES),
    enabled: Type.Boolean(),
  },
  { additionalProperties: false },
);

const ruleInput = Compile(
  Type.Object(
    { id: Type.String({ pattern: ROUTE_ID_PATTERN }), ...ruleProperties },
    { additionalProperties: false },
  ),
);

/**
 * Checks a route from any source (API, store, PIGEON_CONFIG) and returns it with its defaults
 * filled in. Throws PIGEON_ERR_VALIDATION listing what is wrong.
 */
export function parseRouteRule(value: unknown): RouteRule {
  if (!ruleInput.Check(value)) {
    const errors = ruleInput.Errors(value).map((e) => ({ field: e.instancePath || '/', message: e.message }));
    throw new PigeonError(
      'PIGEON_ERR_VALIDATION',
      `route is invalid: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`,
      { errors },
    );
  }
  const input = value;
  const seen = new Map<string, string>();
  const errors: Array<{ field: string; message: string }> = [];
  input.tiers.forEach((tier, t) =>
    tier.forEach((entry, e) => {
      const field = `/tiers/${t}/${e}/provider`;
      const first = seen.get(entry.provider);
      if (first)
        errors.push({ field, message: `provider "${entry.provider}" is already listed at ${first}` });
      else seen.set(entry.provider, field);
    }),
  );
  if (errors.length > 0) {
    throw new PigeonError(
      'PIGEON_ERR_VALIDATION',
      `route is invalid: ${errors.map((e) => e.message).join('; ')}`,
      { errors },
    );
  }
  // Built field by field so that equal rules serialise to equal JSON whatever order they came in.
  return {
    id: input.id,
    ...(input.name !== undefined ? { name: input.name } : {}),
    priority: input.priority ?? DEFAULT_ROUTE_PRIORITY,
    ...(input.tenantId !== undefined ? { tenantId: input.tenantId } : {}),
    ...(input.country !== undefined ? { country: input.country } : {}),
    ...(input.prefix !== undefined ? { prefix: input.prefix } : {}),
    ...(input.messageClass !== undefined ? { messageClass: input.messageClass } : {}),
    strategy: input.strategy ?? 'weighted',
    ...(input.qualityFloor !== undefined ? { qualityFloor: input.qualityFloor } : {}),
    tiers: input.tiers.map((tier) =>
      tier.map((entry) => ({
        provider: entry.provider,
        weight: entry.weight,
        ...(entry.senderId !== undefined ? { senderId: entry.senderId } : {}),
      })),
    ),
    enabled: input.enabled ?? true,
  };
}

/** The providers a rule names, in tier order. */
export function ruleProviders(rule: Pick<RouteRule, 'tiers'>): string[] {
  return rule.tiers.flatMap((tier) => tier.map((entry) => entry.provider));
}
