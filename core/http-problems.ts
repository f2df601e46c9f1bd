import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type {
  ConnectionError,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from 'fastify';
import { isPigeonError, PigeonError } from './errors.ts';

// Every 4xx and 5xx of every service's HTTP server is RFC 9457 problem+json with a code from the
// catalogue: the errors of routes and of Fastify's body parsing, unknown routes and methods, and
// the two kinds Fastify and Node answer on their own unless told otherwise (a bad or over-long
// path before routing, a request the HTTP parser refuses).

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Told of every problem a server answers with (the API counts them by code). */
export type ProblemListener = (error: PigeonError) => void;

/** Maps Fastify's own errors onto the catalogue so every 4xx/5xx has a stable code. */
export function asPigeonError(err: FastifyError): PigeonError {
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
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new PigeonError('PIGEON_ERR_URI_TOO_LONG', 'A path parameter is longer than any valid one');
    case 'FST_ERR_BAD_URL':
      return new PigeonError('PIGEON_ERR_MALFORMED_REQUEST', 'The path is not a valid URL component');
  }
  if (err instanceof SyntaxError) return new PigeonError('PIGEON_ERR_MALFORMED_JSON', err.message);
  if (err.statusCode === 413) return new PigeonError('PIGEON_ERR_PAYLOAD_TOO_LARGE', err.message);
  if (err.statusCode === 414) return new PigeonError('PIGEON_ERR_URI_TOO_LONG', err.message);
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

/** A connection-level error (raised by Node's HTTP parser, before any request object) as a problem. */
export function clientProblem(err: ConnectionError): PigeonError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new PigeonError('PIGEON_ERR_HEADERS_TOO_LARGE');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new PigeonError('PIGEON_ERR_REQUEST_TIMEOUT');
    default:
      return new PigeonError('PIGEON_ERR_MALFORMED_REQUEST');
  }
}

/** The raw HTTP/1.1 response for a problem, for a socket no reply object exists for. */
export function rawProblemResponse(error: PigeonError): string {
  const body = JSON.stringify(error.toProblem());
  return (
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/**
 * Fastify options for every server: the errors Fastify answers before routing (a path that is not
 * a valid URL, a path parameter over `maxParamLength`) and the ones Node's HTTP parser raises
 * (headers or query over 16 KiB, a request timeout, malformed HTTP) leave as problem+json rather
 * than Fastify's JSON. Pass them to `Fastify()`; the rest is `answerWithProblems`.
 */
export function problemServerOptions(
  onProblem: ProblemListener = () => undefined,
): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler' | 'return503OnClosing'> {
  return {
    // Fastify's own 503 while closing is plain JSON; answerWithProblems gives it as a problem.
    return503OnClosing: false,
    frameworkErrors: (err, request, reply) => {
      const error = asPigeonError(err);
      onProblem(error);
      request.log.debug({ problem: error.code }, 'request rejected');
      void sendProblem(reply, request, error);
    },
    clientErrorHandler: (err: ConnectionError, socket: Socket) => {
      // A reset connection has no one left to answer.
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const error = clientProblem(err);
      onProblem(error);
      // Only when nothing of a response went out yet, as Node's own handler does.
      if (socket.writable && socket.bytesWritten === 0) socket.write(rawProblemResponse(error));
      socket.destroy(err);
    },
  };
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * Answers every error of `app`'s routes, unknown routes (404) and known paths asked with another
 * method (405 with `Allow`) as problem+json.
 */
export function answerWithProblems(app: FastifyInstance, onProblem: ProblemListener = () => undefined): void {
  // Requests that still arrive on open connections while the server closes (pipelined, or on a
  // busy keep-alive connection) are refused at once, so a load balancer retries them elsewhere.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) {
      done();
      return;
    }
    void reply.header('connection', 'close');
    done(new PigeonError('PIGEON_ERR_SHUTTING_DOWN'));
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = asPigeonError(err);
    onProblem(error);
    if (error.status >= 500) request.log.error({ err, problem: error.code }, 'request failed');
    // A refusal is the client's to see, and counted by code (onProblem: pigeon_api_problems_total):
    // at info, a flood of 429s paid ~9 µs each for a log line (the child logger, redaction, the
    // number masking) on the path meant to be the cheapest.
    else request.log.debug({ problem: error.code }, 'request rejected');
    return sendProblem(reply, request, error);
  });
  app.setNotFoundHandler((request, reply) => {
    const allowed = METHODS.filter((method) => app.findRoute({ method, url: request.url }) !== null);
    const error =
      allowed.length > 0
        ? new PigeonError('PIGEON_ERR_METHOD_NOT_ALLOWED', `${request.method} is not allowed here`)
        : new PigeonError('PIGEON_ERR_NOT_FOUND', `No route ${request.method} ${request.url}`);
    onProblem(error);
    if (allowed.length > 0) reply.header('allow', allowed.join(', '));
    return sendProblem(reply, request, error);
  });
}
