import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { PigeonError } from '../core/errors.ts';
import type { ProviderDefinition } from '../providers/registry.ts';
import { PROVIDER_NAME_PATTERN } from './rules.ts';

const routingProperties = {
  type: Type.String({ minLength: 1, maxLength: 64, description: 'Adapter type, e.g. simulator, aws-sms' }),
  weight: Type.Optional(
    Type.Number({ minimum: 0, maximum: 1_000_000, description: 'Weight on the default route (1)' }),
  ),
  enabled: Type.Optional(Type.Boolean()),
  prices: Type.Optional(
    Type.Record(Type.String({ pattern: '^([A-Z]{2}|\\*)$' }), Type.Number({ minimum: 0 }), {
      additionalProperties: false,
      description: 'Price per segment by ISO country, * for any other',
    }),
  ),
  senderId: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
};

/** A provider definition as a client writes it (the name is in the path). */
export const ProviderDefinitionBody = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: PROVIDER_NAME_PATTERN })),
    ...routingProperties,
    tps: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Sends per second allowed' })),
    breaker: Type.Optional(
      Type.Object(
        {
          timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
          errorThresholdPercentage: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
          volumeThreshold: Type.Optional(Type.Integer({ minimum: 0 })),
          resetTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
          perCountry: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    options: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'Adapter options: URLs, credentials…' }),
    ),
  },
  { additionalProperties: false },
);

// What routing relies on, checked on definitions read back from the store. Fields it does not
// know are left to the adapter and the dispatcher, so a definition written by a newer release
// still loads here.
const storedDefinition = Compile(
  Type.Object({ name: Type.String({ pattern: PROVIDER_NAME_PATTERN }), ...routingProperties }),
);

/** Checks the fields routing relies on; throws PIGEON_ERR_VALIDATION naming the first problems. */
export function checkProviderDefinition(value: unknown): ProviderDefinition {
  if (storedDefinition.Check(value)) return value;
  const errors = storedDefinition
    .Errors(value)
    .slice(0, 5)
    .map((e) => ({ field: e.instancePath || '/', message: e.message }));
  throw new PigeonError(
    'PIGEON_ERR_VALIDATION',
    `provider definition is invalid: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`,
    { errors },
  );
}
