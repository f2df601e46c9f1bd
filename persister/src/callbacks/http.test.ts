import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { CallbackHttp } from './http.ts';

/** A receiver on loopback that answers 204, or holds the request open when `hang` is set. */
async function receiver(t: { after(fn: () => unknown): void }, hang: boolean) {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    if (hang) held.push(res);
    else res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

test('a receiver that never answers ends the attempt at the timeout; one that answers gets its status', async (t) => {
  const http = new CallbackHttp({ timeoutMs: 200, allowPrivateNetworks: true });
  t.after(() => http.close());
  const hanging = await receiver(t, true);
  assert.deepEqual(await http.post(hanging, '{}', { 'content-type': 'application/json' }), {
    error: 'timed out after 200 ms',
  });
  const answering = await receiver(t, false);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await http.post(answering, '{}', { 'content-type': 'application/json' }), {
      status: 204,
    });
  }
});
