/**
 * Every 4xx of the HTTP layer is problem+json with its code, including the ones Fastify and Node
 * answer before any route runs. Over real sockets: an over-long query is refused by Node's HTTP
 * parser, which `inject` never runs.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startTestApi, type TestApi } from '../../test/support/api-harness.ts';
import { generateApiKey } from './api-keys.ts';

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Sends `request` as written and reads the answer until the server closes or it is complete. */
function rawRequest(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = new Map(
        lines.map((line) => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as const;
        }),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      const length = /\r\ncontent-length: (\d+)/i.exec(text)?.[1];
      const bodyStart = text.indexOf('\r\n\r\n');
      if (
        length !== undefined &&
        bodyStart >= 0 &&
        Buffer.byteLength(text) - bodyStart - 4 >= Number(length)
      ) {
        socket.destroy();
        finish();
      }
    });
    socket.on('close', () => (chunks.length > 0 ? finish() : reject(new Error('closed without an answer'))));
    socket.on('error', () => undefined);
    socket.write(request);
  });
}

describe('every error the HTTP layer answers is problem+json with its code', () => {
  let app: FastifyInstance;
  let api: TestApi;
  let port: number;
  const key = generateApiKey();

  before(async () => {
    api = await startTestApi({
      keys: [{ key, tenant: 'tenant-a', scopes: ['messages:write', 'messages:read'], label: 'test' }],
      deps: { publishTimeoutMs: 1000 },
    });
    ({ app } = api);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });

  after(() => api.close());

  const request = (method: string, path: string, headers: Record<string, string> = {}, body = '') =>
    [
      `${method} ${path} HTTP/1.1`,
      'Host: 127.0.0.1',
      `Authorization: Bearer ${key}`,
      'Connection: close',
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      ...(body === '' ? [] : [`Content-Length: ${Buffer.byteLength(body)}`]),
      '',
      body,
    ].join('\r\n');

  const json = { 'Content-Type': 'application/json' };
  const cases: Array<[string, string, number, string]> = [
    [
      'an over-long path parameter',
      request('GET', `/v1/messages/${'A'.repeat(5000)}`),
      414,
      'PIGEON_ERR_URI_TOO_LONG',
    ],
    [
      'an over-long query',
      request('GET', `/v1/messages?provider=${'a'.repeat(20_000)}`),
      431,
      'PIGEON_ERR_HEADERS_TOO_LARGE',
    ],
    [
      'over-long headers',
      request('GET', '/v1/messages', { 'X-Padding': 'x'.repeat(20_000) }),
      431,
      'PIGEON_ERR_HEADERS_TOO_LARGE',
    ],
    ['an unknown route', request('GET', '/v1/nowhere'), 404, 'PIGEON_ERR_NOT_FOUND'],
    ['a wrong method', request('DELETE', '/v1/messages'), 405, 'PIGEON_ERR_METHOD_NOT_ALLOWED'],
    [
      'a too-large body',
      request('POST', '/v1/messages', json, JSON.stringify({ to: '+14155550123', body: 'x'.repeat(20_000) })),
      413,
      'PIGEON_ERR_PAYLOAD_TOO_LARGE',
    ],
    [
      'a wrong content type',
      request('POST', '/v1/messages', { 'Content-Type': 'application/xml' }, '<to>+14155550123</to>'),
      415,
      'PIGEON_ERR_UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'malformed JSON',
      request('POST', '/v1/messages', json, '{"to": "+1415'),
      400,
      'PIGEON_ERR_MALFORMED_JSON',
    ],
    [
      'a path that is not a valid URL',
      request('GET', '/v1/messages/%E0%A4%A'),
      400,
      'PIGEON_ERR_MALFORMED_REQUEST',
    ],
    ['a request that is not HTTP', 'HELLO THERE\r\n\r\n', 400, 'PIGEON_ERR_MALFORMED_REQUEST'],
  ];

  for (const [what, raw, status, code] of cases) {
    test(`${what}: ${status} ${code}`, async () => {
      const response = await rawRequest(port, raw);
      assert.equal(response.status, status, response.body);
      assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      const problem = JSON.parse(response.body) as Record<string, unknown>;
      assert.equal(problem.code, code);
      assert.equal(problem.status, status);
      assert.equal(typeof problem.title, 'string');
      assert.match(String(problem.type), /^https:\/\/pigeon\.dev\/errors\//);
    });
  }

  test('a wrong method names the methods the path answers in Allow', async () => {
    const response = await rawRequest(port, request('DELETE', '/v1/messages'));
    assert.deepEqual(response.headers.get('allow')?.split(', ').sort(), ['GET', 'HEAD', 'POST']);
  });

  test('the problems are counted by code like any other', async () => {
    await rawRequest(port, request('GET', `/v1/messages/${'A'.repeat(500)}`));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const code of [
      'PIGEON_ERR_URI_TOO_LONG',
      'PIGEON_ERR_HEADERS_TOO_LARGE',
      'PIGEON_ERR_METHOD_NOT_ALLOWED',
    ]) {
      assert.match(
        metrics,
        new RegExp(`pigeon_api_problems_total\\{[^}]*code="${code}"[^}]*\\} [1-9]`),
        code,
      );
    }
  });
});
