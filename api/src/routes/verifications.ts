import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { maskPhone } from '../../../core/phone.ts';
import { VERIFICATION_STATUSES } from '../../../core/verification.ts';
import { type Principal, seesPii } from '../api-keys.ts';
import { Problem } from '../schemas.ts';
import { MAX_CODE_LENGTH, MIN_CODE_LENGTH } from '../verify/code.ts';
import { APP_HASH, APP_NAME, WEB_OTP_DOMAIN } from '../verify/templates.ts';
import type { VerificationServices } from '../verify/services.ts';
import { MAX_TTL_SECONDS, verificationNotFound } from '../verify/verifications.ts';

export type VerificationRoutesDeps = VerificationServices;

const ULID = '^[0-9A-HJKMNP-TV-Z]{26}$';
const Code = Type.String({
  pattern: `^[0-9]{${MIN_CODE_LENGTH},${MAX_CODE_LENGTH}}$`,
  description: 'The digits the user typed',
});
const To = Type.String({ minLength: 1, maxLength: 32, description: 'E.164 number, e.g. +14155550123' });
const IdParams = Type.Object({ id: Type.String({ pattern: ULID }) });
const Status = Type.Enum(VERIFICATION_STATUSES);

const StartBody = Type.Object(
  {
    to: To,
    channel: Type.Literal('sms'),
    locale: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$',
        maxLength: 35,
        description: 'BCP 47; templates: en, zh-CN, es, fr, de, ja, pt-BR (default: by country, else en)',
      }),
    ),
    codeLength: Type.Optional(
      Type.Integer({ minimum: MIN_CODE_LENGTH, maximum: MAX_CODE_LENGTH, default: 6 }),
    ),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 30, maximum: MAX_TTL_SECONDS, default: 300 })),
    appName: Type.Optional(
      Type.String({ pattern: APP_NAME.source, description: 'Shown in the text, up to 30 characters' }),
    ),
    appHash: Type.Optional(
      Type.String({ pattern: APP_HASH.source, description: 'Android SMS Retriever app hash' }),
    ),
    webOtpDomain: Type.Optional(
      Type.String({
        pattern: WEB_OTP_DOMAIN.source,
        maxLength: 253,
        description: 'Adds the WebOTP line `@domain #code`',
      }),
    ),
  },
  { additionalProperties: false },
);

const Started = Type.Object({
  id: Type.String(),
  status: Type.Literal('pending'),
  expiresAt: Type.String(),
  sendCount: Type.Integer(),
});

const CheckResult = Type.Object({ status: Status });

const View = Type.Object({
  id: Type.String(),
  to: Type.String(),
  channel: Type.Literal('sms'),
  status: Status,
  country: Type.String(),
  locale: Type.String(),
  sendCount: Type.Integer(),
  checkCount: Type.Integer(),
  createdAt: Type.String(),
  expiresAt: Type.String(),
  approvedAt: Type.Union([Type.String(), Type.Null()]),
});

const FactorView = Type.Object({
  id: Type.String(),
  type: Type.Literal('totp'),
  to: Type.String(),
  status: Type.Enum(['unverified', 'verified']),
  createdAt: Type.String(),
  uri: Type.Optional(
    Type.String({ description: 'otpauth:// URI with the secret; returned once, at creation' }),
  ),
});

const problems = {
  400: Problem,
  401: Problem,
  403: Problem,
  404: Problem,
  422: Problem,
  429: Problem,
  500: Problem,
  503: Problem,
};

/**
 * `/v1/verifications…` (one-time codes by SMS) and `/v1/factors…` (authenticator-app fallback).
 * The logic is in ../verify/; this file maps HTTP onto it.
 */
export async function verificationRoutes(fastify: FastifyInstance, deps: VerificationRoutesDeps) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { verifications, factors } = deps;

  const caller = (request: { principal: Principal; ip: string }) => ({
    tenantId: request.principal.tenantId,
    ip: request.ip,
  });

  app.post(
    '/v1/verifications',
    {
      onRequest: app.requireScope('messages:write'),
      bodyLimit: 4 * 1024,
      schema: {
        summary: 'Send a one-time code, or re-send the pending one for this number with a fresh code',
        tags: ['verifications'],
        body: StartBody,
        response: { 201: Started, 200: Started, ...problems, 504: Problem },
      },
    },
    async (request, reply) => {
      const { created, ...started } = await verifications.start(request.body, caller(request));
      return reply.code(created ? 201 : 200).send(started);
    },
  );

  app.get(
    '/v1/verifications/:id',
    {
      onRequest: app.requireScope('messages:read'),
      schema: {
        summary: 'A verification (never its code)',
        tags: ['verifications'],
        params: IdParams,
        response: { 200: View, ...problems },
      },
    },
    async (request) => {
      const view = await verifications.get(
        request.principal.tenantId,
        request.params.id,
        seesPii(request.principal),
      );
      if (!view) throw verificationNotFound();
      return view;
    },
  );

  app.post(
    '/v1/verifications/:id/check',
    {
      onRequest: app.requireScope('messages:write'),
      bodyLimit: 1024,
      schema: {
        summary: 'Check a code against a verification',
        description:
          'Answers `approved` once, for the right code; `max_attempts` after five wrong checks; otherwise `pending` — ' +
          'also for an unknown, expired, canceled or already approved verification, so answers reveal nothing.',
        tags: ['verifications'],
        params: IdParams,
        body: Type.Object({ code: Code }, { additionalProperties: false }),
        response: { 200: CheckResult, ...problems },
      },
    },
    async (request) => {
      return {
        status: await verifications.check({ id: request.params.id }, request.body.code, caller(request)),
      };
    },
  );

  app.post(
    '/v1/verification-checks',
    {
      onRequest: app.requireScope('messages:write'),
      bodyLimit: 1024,
      schema: {
        summary: "Check a code against the number's pending verification",
        description: 'Same answers as `/v1/verifications/{id}/check`.',
        tags: ['verifications'],
        body: Type.Object({ to: To, code: Code }, { additionalProperties: false }),
        response: { 200: CheckResult, ...problems },
      },
    },
    async (request) => {
      return {
        status: await verifications.check({ to: request.body.to }, request.body.code, caller(request)),
      };
    },
  );

  app.post(
    '/v1/verifications/:id/cancel',
    {
      onRequest: app.requireScope('messages:write'),
      schema: {
        summary: 'Cancel a pending verification (its code stops working)',
        tags: ['verifications'],
        params: IdParams,
        response: { 200: View, ...problems },
      },
    },
    async (request) => {
      return verifications.cancel(request.principal.tenantId, request.params.id, seesPii(request.principal));
    },
  );

  app.post(
    '/v1/factors',
    {
      onRequest: app.requireScope('messages:write'),
      bodyLimit: 1024,
      schema: {
        summary: "Create (or replace) a number's authenticator-app (TOTP) factor",
        description:
          'Returns the otpauth:// URI to show as a QR code. The factor counts in checks once confirmed with ' +
          '`POST /v1/factors/{id}/verify`, for verifications started after that.',
        tags: ['factors'],
        body: Type.Object(
          {
            to: To,
            issuer: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[^:]+$' })),
            label: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[^:]+$' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: FactorView, ...problems },
      },
    },
    async (request, reply) => {
      const { factor, uri } = await factors.create(request.principal.tenantId, request.body);
      // The URI holds the secret: no cache on the way may keep it.
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ ...factorView(factor, seesPii(request.principal)), uri });
    },
  );

  app.post(
    '/v1/factors/:id/verify',
    {
      onRequest: app.requireScope('messages:write'),
      bodyLimit: 1024,
      schema: {
        summary: 'Confirm a factor with a code from the app',
        tags: ['factors'],
        params: IdParams,
        body: Type.Object({ code: Code }, { additionalProperties: false }),
        response: { 200: FactorView, ...problems },
      },
    },
    async (request) => {
      const factor = await factors.confirm(
        request.principal.tenantId,
        request.params.id,
        request.body.code,
        caller(request),
      );
      return factorView(factor, seesPii(request.principal));
    },
  );

  app.delete(
    '/v1/factors/:id',
    {
      onRequest: app.requireScope('messages:write'),
      schema: {
        summary: 'Remove a factor',
        tags: ['factors'],
        params: IdParams,
        response: { 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      await factors.delete(request.principal.tenantId, request.params.id);
      return reply.code(204).send(null);
    },
  );
}

function factorView(
  factor: { id: string; recipient: string; status: 'unverified' | 'verified'; createdAt: number },
  showPii: boolean,
) {
  return {
    id: factor.id,
    type: 'totp' as const,
    to: showPii ? factor.recipient : maskPhone(factor.recipient),
    status: factor.status,
    createdAt: new Date(factor.createdAt).toISOString(),
  };
}
