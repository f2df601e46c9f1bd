import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { fetchText, providerFetch } from './http.ts';
import { ANSWER_MAX_BYTES } from './http-transport.ts';
import { ProviderError } from './provider.ts';

const execFileAsync = promisify(execFile);

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer(handler);
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, connections: () => connections };
}

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => resolve(text));
  });
}

/** The ProviderError a call ends with; fails the test when it succeeds or throws anything else. */
async function failureOf(call: Promise<unknown>): Promise<ProviderError> {
  const error = await call.then(
    () => assert.fail('expected the call to fail'),
    (err: unknown) => err,
  );
  assert.ok(error instanceof ProviderError);
  return error;
}

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
  for (const server of servers) server.closeAllConnections();
});

describe('provider HTTP transport', () => {
  test('sends method, headers and body, and reads status, headers and the whole answer', async () => {
    const seen: Array<{ method?: string; type?: string; length?: string; body: string }> = [];
    const { server, url } = await listen(async (req, res) => {
      seen.push({
        method: req.method,
        type: req.headers['content-type'],
        length: req.headers['content-length'],
        body: await readAll(req),
      });
      res.writeHead(429, { 'Retry-After': '7', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'slow down', to: '+4915112345678' }));
    });
    servers.push(server);
    const body = 'To=%2B4915112345678&Body=h%C3%A9llo';
    const { response, text } = await fetchText(
      `${url}/send`,
      { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body },
      AbortSignal.timeout(5_000),
    );
    assert.deepEqual(seen, [
      {
        method: 'POST',
        type: 'application/x-www-form-urlencoded',
        length: String(Buffer.byteLength(body)),
        body,
      },
    ]);
    assert.equal(response.status, 429);
    assert.equal(response.ok, false);
    assert.equal(response.headers.get('RETRY-AFTER'), '7');
    assert.equal(response.headers.get('x-absent'), null);
    assert.deepEqual(JSON.parse(text), { error: 'slow down', to: '+4915112345678' });
  });

  test('keeps the connection alive across calls, whether or not the answer was read', async () => {
    const { server, url, connections } = await listen((_req, res) => res.end('{"id":"x"}'));
    servers.push(server);
    for (let i = 0; i < 5; i++) {
      const response = await providerFetch(url, { method: 'POST', body: '{}' }, AbortSignal.timeout(5_000));
      if (i % 2 === 0) assert.equal(await response.text(), '{"id":"x"}');
      // An unread answer is still drained, so its connection can be reused.
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(connections(), 1);
  });

  test('keeps every connection of a burst of 400 sends in flight for the next burst (more than Node keeps by default)', async () => {
    // The server answers only once the whole burst is in, so the burst holds 400 connections.
    const burst = 400;
    let waiting: ServerResponse[] = [];
    const { server, url, connections } = await listen((_req, res) => {
      waiting.push(res);
      if (waiting.length === burst) {
        for (const r of waiting) r.end('{"id":"x"}');
        waiting = [];
      }
    });
    servers.push(server);
    const sendBurst = () =>
      Promise.all(
        Array.from({ length: burst }, async () => {
          const response = await providerFetch(
            url,
            { method: 'POST', body: '{}' },
            AbortSignal.timeout(10_000),
          );
          return response.text();
        }),
      );
    await sendBurst();
    await new Promise((resolve) => setImmediate(resolve));
    await sendBurst();
    assert.equal(connections(), burst);
  });

  test('a refused connection is a definite non-send', async () => {
    const { server, url } = await listen(() => undefined);
    await new Promise((resolve) => server.close(resolve));
    const error = await failureOf(
      providerFetch(url, { method: 'POST', body: '{}' }, AbortSignal.timeout(5_000)),
    );
    assert.equal(error.rawCode, 'ECONNREFUSED');
    assert.equal(error.sent, 'no');
  });

  test('no answer before our timeout is an ambiguous send', async () => {
    const { server, url } = await listen(() => undefined);
    servers.push(server);
    const error = await failureOf(
      providerFetch(url, { method: 'POST', body: '{}' }, AbortSignal.timeout(100)),
    );
    assert.equal(error.rawCode, 'TIMEOUT');
    assert.equal(error.sent, 'maybe');
  });

  test('an answer cut off mid-body is an ambiguous send', async () => {
    const { server, url } = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"id":');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    servers.push(server);
    const error = await failureOf(fetchText(url, { method: 'POST', body: '{}' }, AbortSignal.timeout(5_000)));
    assert.equal(error.sent, 'maybe');
  });

  test('an answer larger than any provider gives for one message is refused', async () => {
    const { server, url } = await listen((_req, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(ANSWER_MAX_BYTES + 1, 'x'));
    });
    servers.push(server);
    const error = await failureOf(fetchText(url, { method: 'POST', body: '{}' }, AbortSignal.timeout(5_000)));
    assert.equal(error.sent, 'maybe');
  });

  test('https: trusts what Node trusts, an operator CA through NODE_EXTRA_CA_CERTS included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pigeon-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await execFileAsync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1',
      '-keyout', key, '-out', cert,
    ]); // prettier-ignore
    const { readFileSync } = await import('node:fs');
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, async (req, res) =>
      res.end(`{"echo":${JSON.stringify(await readAll(req))}}`),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/send`;
    const script = join(dir, 'call.mts');
    writeFileSync(
      script,
      `import { fetchText } from ${JSON.stringify(new URL('./http.ts', import.meta.url).pathname)};
       try {
         const { response, text } = await fetchText(process.argv[2], { method: 'POST', body: 'hi' }, AbortSignal.timeout(5000));
         console.log(JSON.stringify({ status: response.status, text }));
       } catch (err) { console.log(JSON.stringify({ error: err.rawCode, sent: err.sent })); }`,
    );
    const run = async (extraCa?: string) => {
      const { NODE_EXTRA_CA_CERTS: _inherited, ...env } = process.env;
      if (extraCa) env.NODE_EXTRA_CA_CERTS = extraCa;
      const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', script, url], { env });
      return JSON.parse(stdout.trim()) as unknown;
    };
    assert.deepEqual(await run(cert), { status: 200, text: '{"echo":"hi"}' });
    // Without the CA the certificate is not trusted: refused before anything was sent.
    assert.deepEqual(await run(), { error: 'DEPTH_ZERO_SELF_SIGNED_CERT', sent: 'no' });
  });
});
