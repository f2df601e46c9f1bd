import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Readiness } from './health.ts';
import { createLogger } from './logger.ts';
import { createRegistry } from './metrics.ts';
import { buildOpsServer } from './ops-routes.ts';

// The bridge's, persister's and monitor's HTTP server answers errors as the API does.

let ops: FastifyInstance;
let base: string;

before(async () => {
  ops = buildOpsServer({
    logger: createLogger({ level: 'silent' }),
    readiness: new Readiness(),
    registry: createRegistry('bridge'),
  });
  await ops.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(ops.server.address() as { port: number }).port}`;
});

after(() => ops.close());

test('serves /healthz', async () => {
  const response = await fetch(`${base}/healthz`);
  assert.equal(response.status, 200);
});

test('an unknown route and a wrong method are problem+json', async () => {
  for (const [method, path, status, code] of [
    ['GET', '/nowhere', 404, 'PIGEON_ERR_NOT_FOUND'],
    ['POST', '/metrics', 405, 'PIGEON_ERR_METHOD_NOT_ALLOWED'],
  ] as const) {
    const response = await fetch(`${base}${path}`, { method });
    assert.equal(response.status, status, path);
    assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(((await response.json()) as { code: string }).code, code);
  }
});

test('headers too large for the HTTP parser are a problem+json 431', async () => {
  const { port } = ops.server.address() as { port: number };
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.on('close', () => resolve(text));
    // The server closes the connection after answering; a reset then is not the test's concern.
    socket.on('error', () => undefined);
    socket.write(`GET /metrics?pad=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
  assert.match(answer, /^HTTP\/1\.1 431 /);
  assert.match(answer, /\r\nContent-Type: application\/problem\+json; charset=utf-8\r\n/);
  const problem = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
  assert.equal(problem.code, 'PIGEON_ERR_HEADERS_TOO_LARGE');
  assert.equal(problem.status, 431);
});
