import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { callbackUrlProblem, MAX_CALLBACK_URL_LENGTH } from '../../../core/callback-url.ts';
import { PigeonError } from '../../../core/errors.ts';
import type { WebhookRecord } from '../../../core/store/kinds/callbacks.ts';
import type { Store } from '../../../core/store/store.ts';
import { Problem } from '../schemas.ts';
import { generateWebhookSecret, secretHint, type TenantSigningSecrets } from '../webhooks.ts';

export interface WebhookRoutesDeps {
  store: Store;
  signingSecrets: TenantSigningSecrets;
  /** PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS. */
  allowPrivateNetworks: boolean;
  now?: () => number;
}

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const errorResponses = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 503: Problem };

const WebhookBody = Type.Object(
  {
    url: Type.Optional(
      Nullable(
        Type.String({
          minLength: 1,
          maxLength: MAX_CALLBACK_URL_LENGTH,
          description: 'Receives every status change of the tenant’s messages; null: none (secret only)',
        }),
      ),
    ),
    rotateSecret: Type.Optional(
      Type.Boolean({ description: 'Replace the signing secret; the new one is returned once' }),
    ),
  },
  { additionalProperties: false },
);

const WebhookView = Type.Object({
  url: Nullable(Type.String()),
  secret: Type.Optional(
    Type.String({ description: 'The signing secret (whsec_…), returned only when created or rotated' }),
  ),
  secretHint: Type.String({ description: 'The start of the secret, to tell secrets apart' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

function view(webhook: WebhookRecord, showSecret: boolean) {
  return {
    url: webhook.url,
    ...(showSecret ? { secret: webhook.secret } : {}),
    secretHint: secretHint(webhook.secret),
    createdAt: new Date(webhook.createdAt).toISOString(),
    updatedAt: new Date(webhook.updatedAt).toISOString(),
  };
}

/**
 * `PUT/GET/DELETE /v1/webhook`: the tenant's status-callback endpoint and signing secret. The
 * secret is made here (never chosen by the client) and shown only in the answer that made it.
 * Reading needs `messages:read`; changing needs `messages:write`, the scope that sends messages
 * with their own `statusCallback` URLs anyway.
 */
export async function webhookRoutes(fastify: FastifyInstance, deps: WebhookRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = deps.now ?? Date.now;

  const notFound = () =>
    new PigeonError('PIGEON_ERR_NOT_FOUND', 'This tenant has no webhook; create one with PUT /v1/webhook');

  app.get(
    '/v1/webhook',
    {
      onRequest: app.requireScope('messages:read'),
      schema: {
        summary: "The tenant's status-callback webhook (never its secret)",
        tags: ['callbacks'],
        response: { 200: WebhookView, ...errorResponses },
      },
    },
    async (request) => {
      const webhook = await deps.store.getWebhook(request.principal.tenantId);
      if (!webhook) throw notFound();
      return view(webhook, false);
    },
  );

  app.put(
    '/v1/webhook',
    {
      onRequest: app.requireScope('messages:write'),
      schema: {
        summary: 'Create or change the webhook; the signing secret is returned once',
        description:
          'Every status change of the tenant’s messages is POSTed to `url` (a message’s own ' +
          '`statusCallback` takes its place), signed with the secret: `Pigeon-Signature: t=<unix>,v1=<hex ' +
          'HMAC-SHA-256 of "<t>.<body>">`. 201 with `secret` when created; 200 after, with `secret` only ' +
          'when `rotateSecret` is true.',
        tags: ['callbacks'],
        body: WebhookBody,
        response: { 200: WebhookView, 201: WebhookView, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { principal, body } = request;
      if (typeof body.url === 'string') {
        const problem = callbackUrlProblem(body.url, { allowPrivateNetworks: deps.allowPrivateNetworks });
        if (problem) {
          throw new PigeonError('PIGEON_ERR_VALIDATION', `"url" ${problem}`, {
            errors: [{ field: '/url', message: problem }],
          });
        }
      }
      const at = now();
      const existing = await deps.store.getWebhook(principal.tenantId);
      const kept = body.rotateSecret === true ? undefined : existing?.secret;
      const newSecret = kept === undefined;
      const webhook: WebhookRecord = {
        tenantId: principal.tenantId,
        url: body.url === undefined ? (existing?.url ?? null) : body.url,
        secret: kept ?? generateWebhookSecret(),
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
      };
      await deps.store.putWebhook(webhook);
      deps.signingSecrets.remember(principal.tenantId, true);
      request.log.info({ tenantId: principal.tenantId, rotated: newSecret && !!existing }, 'webhook.saved');
      return reply.code(existing ? 200 : 201).send(view(webhook, newSecret));
    },
  );

  app.delete(
    '/v1/webhook',
    {
      onRequest: app.requireScope('messages:write'),
      schema: {
        summary: 'Remove the webhook and its secret',
        description:
          'Callbacks not yet delivered are given up, and messages naming a `statusCallback` are refused ' +
          'until a new secret exists.',
        tags: ['callbacks'],
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!(await deps.store.deleteWebhook(request.principal.tenantId))) throw notFound();
      deps.signingSecrets.remember(request.principal.tenantId, false);
      return reply.code(204).send(null);
    },
  );
}
