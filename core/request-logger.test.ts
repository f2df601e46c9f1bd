import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import Fastify, { LogController } from 'fastify';
import { createLogger } from './logger.ts';
import { lazyRequestLoggers } from './request-logger.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ destination, level: 'info' }) };
}

function server() {
  const { lines, logger } = capture();
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLoggers,
  });
  app.get('/quiet', async () => ({ ok: true }));
  app.get('/loud', async (request) => {
    request.log.info({ to: '+14155550123' }, 'handled');
    request.log.debug('not at info');
    return { ok: true };
  });
  app.get('/child', async (request) => {
    request.log.child({ step: 'inner' }).warn('from a child');
    return { level: request.log.level };
  });
  app.get('/quiet-route', { logLevel: 'error' }, async (request) => {
    request.log.info('filtered by the route level');
    return { level: request.log.level };
  });
  return { app, lines };
}

test('a request that logs gets its request id bound, with the redaction of the parent', async () => {
  const { app, lines } = server();
  const response = await app.inject({ url: '/loud' });
  assert.equal(response.statusCode, 200);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.msg, 'handled');
  assert.equal(typeof lines[0]!.reqId, 'string');
  assert.doesNotMatch(JSON.stringify(lines[0]), /14155550123/);
  await app.close();
});

test('a request that does not log writes nothing, and children and levels behave as pino', async () => {
  const { app, lines } = server();
  assert.equal((await app.inject({ url: '/quiet' })).statusCode, 200);
  assert.equal(lines.length, 0);
  const child = await app.inject({ url: '/child' });
  assert.deepEqual(child.json(), { level: 'info' });
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.step, 'inner');
  assert.equal(typeof lines[0]!.reqId, 'string');
  const quiet = await app.inject({ url: '/quiet-route' });
  assert.deepEqual(quiet.json(), { level: 'error' });
  assert.equal(lines.length, 1);
  await app.close();
});

test('two requests log with their own request ids', async () => {
  const { app, lines } = server();
  await app.inject({ url: '/loud' });
  await app.inject({ url: '/loud' });
  assert.equal(lines.length, 2);
  assert.notEqual(lines[0]!.reqId, lines[1]!.reqId);
  await app.close();
});
