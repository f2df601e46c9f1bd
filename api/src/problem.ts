import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { isPigeonError, PigeonError } from '../../core/errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Maps Fastify's own errors onto the catalogue so every 4xx/5xx has a stable code. */
function toPigeonError(err: FastifyError): PigeonError {
  if (isPigeonError(err)) return err;
  if (err.validation) {
    return new PigeonError('PIGEON_ERR_VALIDATION', err.message, {
      errors: err.validation.map((v) => ({
        field:
          v.keyword === 'additionalProperties'
            ? `${v.instancePath}/${(v.params as { additionalProperty?: string }).additionalProperty ?? ''}`
            : v.keyword === 'required'
              ? `${v.instancePath}/${(v.params as { missingProperty?: string }).missingProperty ?? ''}`
              : v.instancePath || '/',
        message: v.message ?? 'invalid',
      })),
    });
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new PigeonError('PIGEON_ERR_MALFORMED_JSON', err.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new PigeonError('PIGEON_ERR_VALIDATION', 'Request body is empty');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PigeonError('PIGEON_ERR_PAYLOAD_TOO_LARGE', err.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new PigeonError('PIGEON_ERR_UNSUPPORTED_MEDIA_TYPE', err.message);
  }
  if (err instanceof SyntaxError) return new PigeonError('PIGEON_ERR_MALFORMED_JSON', err.message);
  if (err.statusCode === 413) return new PigeonError('PIGEON_ERR_PAYLOAD_TOO_LARGE', err.message);
  if (err.statusCode === 415) return new PigeonError('PIGEON_ERR_UNSUPPORTED_MEDIA_TYPE', err.message);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new PigeonError('PIGEON_ERR_VALIDATION', err.message);
  }
  return new PigeonError('PIGEON_ERR_INTERNAL', 'Internal error', { cause: err });
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, error: PigeonError) {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(error.toProblem(request.url));
}

/** Every error leaves as RFC 9457 problem+json with a `code` from the catalogue. */
export function registerProblemHandlers(app: FastifyInstance, registry: Registry): void {
  const problems = new Counter({
    name: 'pigeon_api_problems_total',
    help: 'Requests answered with a problem+json error, by code',
    labelNames: ['code'],
    registers: [registry],
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = toPigeonError(err);
    problems.inc({ code: error.code });
    if (error.status >= 500) request.log.error({ err, problem: error.code }, 'request failed');
    else request.log.info({ problem: error.code }, 'request rejected');
    return sendProblem(reply, request, error);
  });
  app.setNotFoundHandler((request, reply) => {
    problems.inc({ code: 'PIGEON_ERR_NOT_FOUND' });
    return sendProblem(
      reply,
      request,
      new PigeonError('PIGEON_ERR_NOT_FOUND', `No route ${request.method} ${request.url}`),
    );
  });
}
