import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { Readiness } from './health.ts';
import { answerWithProblems, problemServerOptions } from './http-problems.ts';

/** `/healthz`, `/readyz` and `/metrics`, the same on every service. */
export function registerOpsRoutes(app: FastifyInstance, deps: { readiness: Readiness; registry: Registry }) {
  const hide = { hide: true } as Record<string, unknown>;
  app.get('/healthz', { schema: hide, logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: hide, logLevel: 'warn' }, async (_req, reply) => {
    const result = await deps.readiness.evaluate();
    return reply
      .code(result.ready ? 200 : 503)
      .send({ status: result.ready ? 'ready' : 'unready', ...result });
  });
  app.get('/metrics', { schema: hide, logLevel: 'warn' }, async (_req, reply) => {
    const body = await deps.registry.metrics();
    return reply.type(deps.registry.contentType).send(body);
  });
}

/**
 * The HTTP server of a service that serves no API of its own: only the ops routes, with every
 * error problem+json like the API's.
 */
export function buildOpsServer(deps: {
  logger: FastifyBaseLogger;
  readiness: Readiness;
  registry: Registry;
}): FastifyInstance {
  const ops = Fastify({
    ...problemServerOptions(),
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  answerWithProblems(ops);
  registerOpsRoutes(ops, deps);
  return ops;
}
