import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { answerWithProblems, problemServerOptions } from './http-problems.ts';

test('a request that arrives while the server closes is a problem+json 503 that closes the connection', async () => {
  const app = Fastify(problemServerOptions());
  answerWithProblems(app);
  let release = () => undefined as void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let started = () => undefined as void;
  const inFlight = new Promise<void>((resolve) => (started = resolve));
  app.get('/slow', async () => {
    started();
    await held;
    return { ok: true };
  });
  app.get('/fast', async () => ({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };

  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  socket.on('error', () => undefined);
  const socketClosed = new Promise((resolve) => socket.on('close', resolve));
  socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await inFlight;
  const closed = app.close();
  await sleep(100);
  // Pipelined on the busy connection, after the close began.
  socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(50);
  release();
  await socketClosed;
  await closed;

  const answers = text.split(/(?=HTTP\/1\.1 )/);
  assert.equal(answers.length, 2, text);
  assert.match(answers[0]!, /^HTTP\/1\.1 200 /, 'the request in flight finishes');
  assert.match(answers[1]!, /^HTTP\/1\.1 503 /);
  assert.match(answers[1]!, /\r\ncontent-type: application\/problem\+json; charset=utf-8\r\n/i);
  assert.match(answers[1]!, /\r\nconnection: close\r\n/i);
  const problem = JSON.parse(answers[1]!.slice(answers[1]!.indexOf('\r\n\r\n') + 4)) as { code: string };
  assert.equal(problem.code, 'PIGEON_ERR_SHUTTING_DOWN');
});
