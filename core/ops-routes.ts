import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Readiness } from './health.ts';

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
