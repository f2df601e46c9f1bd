import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { PigeonError } from '../../../core/errors.ts';
import type { ApiKeyRecord } from '../../../core/store/kinds/api-keys.ts';
import type { Store } from '../../../core/store/store.ts';
import { ALL_SCOPES, apiKeyRecord, generateApiKey } from '../api-keys.ts';
import { type CredentialChanges, CredentialEvents } from '../credential-changes.ts';
import { Problem } from '../schemas.ts';
import { TenantId } from './tenants.ts';

export interface TenantKeyRoutesDeps {
  store: Store;
  credentialChanges: CredentialChanges;
  now?: () => number;
}

/** How long a key rotated away from keeps working unless the rotation says otherwise: a day to roll out its replacement. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 86_400;
/** The longest overlap a rotation may ask for: a rotation is not a way to keep two keys for good. */
export const MAX_ROTATION_OVERLAP_SECONDS = 30 * 86_400;

const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 503: Problem };

const Scopes = Type.Array(Type.Enum(ALL_SCOPES), {
  minItems: 1,
  uniqueItems: true,
  description: 'What the key may do; admin holds every scope',
});
const KeyParams = Type.Object({
  tenantId: TenantId,
  keyId: Type.String({ pattern: '^[0-9A-HJKMNP-TV-Z]{26}$', description: 'The key id (not the key)' }),
});
const TenantParams = Type.Object({ tenantId: TenantId });
const Instant = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

const KeyView = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  hint: Type.Union([Type.String(), Type.Null()], {
    description: 'The last four characters of the key; null for keys made before hints were kept',
  }),
  status: Type.Enum(['active', 'expired', 'revoked']),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When a key rotated away from stops working; null: never',
  }),
  revokedAt: Instant,
});
const NewKey = {
  ...KeyView.properties,
  key: Type.String({ description: 'The key itself. Shown only this once: it is not stored' }),
};
const NewKeyView = Type.Object(NewKey);

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

/**
 * `/v1/admin/tenants/:tenantId/keys`: an API key's lifecycle — create (the key is shown once),
 * list (with a four-character hint, never the key or its hash), rotate with an overlap, revoke.
 * Needs the `admin` scope. A revocation, and the end a rotation sets, reach every api process
 * within a second through the bus (credential-changes.ts).
 */
export async function tenantKeyRoutes(fastify: FastifyInstance, deps: TenantKeyRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;
  app.addHook('onRequest', app.requireScope('admin'));

  const keyView = (key: ApiKeyRecord, at = now()) => ({
    id: key.id,
    tenantId: key.tenantId,
    name: key.name,
    scopes: key.scopes,
    hint: key.hint,
    status:
      key.revokedAt !== null
        ? ('revoked' as const)
        : key.expiresAt !== null && key.expiresAt <= at
          ? ('expired' as const)
          : ('active' as const),
    createdAt: new Date(key.createdAt).toISOString(),
    expiresAt: iso(key.expiresAt),
    revokedAt: iso(key.revokedAt),
  });

  const existingKey = async (tenantId: string, keyId: string): Promise<ApiKeyRecord> => {
    const key = await deps.store.getApiKey(tenantId, keyId);
    if (!key) throw new PigeonError('PIGEON_ERR_NOT_FOUND', `Tenant "${tenantId}" has no key "${keyId}"`);
    return key;
  };

  app.post(
    '/v1/admin/tenants/:tenantId/keys',
    {
      schema: {
        summary: 'Create an API key for a tenant; the answer holds the key, shown this once',
        description: 'The tenant must have been created (POST /v1/admin/tenants).',
        tags: ['admin'],
        params: TenantParams,
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 255 }), scopes: Scopes },
          { additionalProperties: false },
        ),
        response: { 201: NewKeyView, 404: Problem, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { tenantId } = request.params;
      if (!(await deps.store.getTenant(tenantId))) {
        throw new PigeonError(
          'PIGEON_ERR_NOT_FOUND',
          `No tenant "${tenantId}" (POST /v1/admin/tenants creates one)`,
        );
      }
      const key = generateApiKey();
      const record = {
        ...apiKeyRecord(key, tenantId, request.body.scopes, request.body.name),
        createdAt: now(),
      };
      await deps.store.putApiKey(record);
      return reply.code(201).send({ ...keyView(record), key });
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/keys',
    {
      schema: {
        summary: "A tenant's API keys, oldest first, revoked and expired ones included",
        description: 'Each with the last four characters of the key as a hint; never the key or its hash.',
        tags: ['admin'],
        params: TenantParams,
        response: { 200: Type.Object({ keys: Type.Array(KeyView) }), ...errorResponses },
      },
    },
    async (request) => {
      const at = now();
      const keys = await deps.store.listApiKeys(request.params.tenantId);
      return { keys: keys.map((key) => keyView(key, at)) };
    },
  );

  app.post(
    '/v1/admin/tenants/:tenantId/keys/:keyId/rotate',
    {
      schema: {
        summary:
          'Rotate a key: a new key with the same name and scopes; the old one works until the overlap ends',
        description: `The overlap defaults to ${DEFAULT_ROTATION_OVERLAP_SECONDS} s (a day); 0 ends the old key at once. A key already due to end sooner keeps its end.`,
        tags: ['admin'],
        params: KeyParams,
        querystring: Type.Object(
          {
            overlapSeconds: Type.Optional(
              Type.String({
                pattern: '^[0-9]{1,7}$',
                description: `How long the old key keeps working, 0–${MAX_ROTATION_OVERLAP_SECONDS} s`,
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ ...NewKey, replaced: KeyView }),
          404: Problem,
          409: Problem,
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { tenantId, keyId } = request.params;
      const overlapSeconds = Number(request.query.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS);
      if (overlapSeconds > MAX_ROTATION_OVERLAP_SECONDS) {
        throw new PigeonError(
          'PIGEON_ERR_VALIDATION',
          `overlapSeconds is at most ${MAX_ROTATION_OVERLAP_SECONDS}`,
          {
            errors: [{ field: '/overlapSeconds', message: `must be <= ${MAX_ROTATION_OVERLAP_SECONDS}` }],
          },
        );
      }
      const old = await existingKey(tenantId, keyId);
      const at = now();
      const key = generateApiKey();
      const replacement = { ...apiKeyRecord(key, tenantId, old.scopes, old.name), createdAt: at };
      const rotated = await deps.store.rotateApiKey(tenantId, keyId, replacement, {
        now: at,
        expiresAt: at + overlapSeconds * 1000,
      });
      if (!rotated) {
        throw new PigeonError(
          'PIGEON_ERR_CONFLICT',
          `Key "${keyId}" is revoked or expired: create a new key instead`,
        );
      }
      // The old key's cached copies know no end yet. Unlike a revocation, a rotation the bus did
      // not take still answers 201: the new key exists only in this answer, and the other
      // processes read the old key's end within 30 s anyway, so only an overlap shorter than
      // that ends late there.
      await deps.credentialChanges.announce({ kind: 'key', hash: old.hash }).catch((err: unknown) => {
        request.log.warn({ err, keyId }, CredentialEvents.notAnnounced);
      });
      const replaced = await existingKey(tenantId, keyId);
      return reply.code(201).send({ ...keyView(replacement, at), key, replaced: keyView(replaced, at) });
    },
  );

  app.delete(
    '/v1/admin/tenants/:tenantId/keys/:keyId',
    {
      schema: {
        summary: 'Revoke a key: refused everywhere within a second',
        description: 'Revoking a revoked key changes nothing (and tells the API instances again).',
        tags: ['admin'],
        params: KeyParams,
        response: { 200: KeyView, 404: Problem, ...errorResponses },
      },
    },
    async (request) => {
      const { tenantId, keyId } = request.params;
      const key = await existingKey(tenantId, keyId);
      await deps.store.revokeApiKey(tenantId, keyId, now());
      // Also when it was revoked already: a retry after the bus failed must reach the others.
      await deps.credentialChanges.announce({ kind: 'key', hash: key.hash });
      return keyView(await existingKey(tenantId, keyId));
    },
  );
}
