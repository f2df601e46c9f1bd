/**
 * Status callbacks through the whole embedded gateway: a message sent over HTTP with its own
 * `statusCallback`, another without (the tenant webhook), the simulator delivering both and
 * posting signed receipts, and a customer endpoint verifying what the persister calls back. Then
 * the same messages through GET /v1/messages and GET /v1/usage.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import { type EmbeddedGateway, startEmbedded } from '../../bin/embedded.ts';
import { createLogger } from '../../core/logger.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../fakes/callback-receiver.ts';
import { freePort } from '../support/ports.ts';
import { waitFor } from '../support/wait.ts';

let gateway: EmbeddedGateway;
let base: string;
let key: string;
const receivers: CallbackReceiver[] = [];

const call = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
};

before(async () => {
  const port = await freePort();
  const config = loadConfig(
    {
      PORT: String(port),
      PIGEON_DATA_DIR: mkdtempSync(join(tmpdir(), 'pigeon-e2e-callbacks-')),
      LOG_LEVEL: 'silent',
      // The customer endpoints of this test listen on 127.0.0.1.
      PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    },
    { mode: 'embedded' },
  );
  gateway = await startEmbedded(config, createLogger({ level: 'silent' }));
  base = `http://127.0.0.1:${port}`;
  key = gateway.api.apiKey!;
});

after(async () => {
  await gateway?.close();
  for (const r of receivers) await r.close();
});

test('a sent message is called back at every status change, signed, and shows in listing and usage', async () => {
  const created = await call('PUT', '/v1/webhook', {});
  assert.equal(created.status, 201);
  const secret = String(created.json.secret);
  const hooks = await startCallbackReceiver({ secret });
  const own = await startCallbackReceiver({ secret });
  receivers.push(hooks, own);
  assert.equal((await call('PUT', '/v1/webhook', { url: `${hooks.url}/pigeon` })).status, 200);

  const viaWebhook = await call('POST', '/v1/messages', { to: '+14155550123', body: 'hello' });
  const viaOwnUrl = await call('POST', '/v1/messages', {
    to: '+14155550124',
    body: 'hello',
    statusCallback: `${own.url}/orders/7`,
    clientRef: 'order-7',
    metadata: { userId: 'u-7' },
  });
  assert.equal(viaWebhook.status, 202);
  assert.equal(viaOwnUrl.status, 202);

  const statuses = (r: CallbackReceiver, id: unknown) =>
    [...r.events.values()].filter((e) => e.messageId === id).map((e) => e.status);
  await waitFor(
    () =>
      statuses(hooks, viaWebhook.json.id).includes('delivered') &&
      statuses(own, viaOwnUrl.json.id).includes('delivered'),
    15_000,
    'delivered callbacks at both endpoints',
  );
  assert.deepEqual(statuses(hooks, viaWebhook.json.id).sort(), ['delivered', 'submitted']);
  assert.deepEqual(statuses(own, viaOwnUrl.json.id).sort(), ['delivered', 'submitted']);
  assert.deepEqual(statuses(hooks, viaOwnUrl.json.id), [], 'the message URL replaces the webhook');
  assert.ok([...hooks.requests, ...own.requests].every((r) => r.verified));
  for (const event of own.events.values()) {
    assert.equal(event.clientRef, 'order-7', 'the client reference in every callback');
    assert.deepEqual(event.metadata, { userId: 'u-7' });
  }
  assert.ok([...hooks.events.values()].every((e) => !('clientRef' in e) && !('metadata' in e)));

  // The persister stores the receipt on its own schedule: a callback may come first.
  let listed: Array<{ id: string; status: string }> = [];
  await waitFor(async () => {
    listed = (await call('GET', '/v1/messages?limit=10')).json.messages as typeof listed;
    return listed.slice(0, 2).every((m) => m.status === 'delivered');
  }, 5_000);
  assert.deepEqual(
    listed.slice(0, 2).map((m) => [m.id, m.status]),
    [
      [viaOwnUrl.json.id, 'delivered'],
      [viaWebhook.json.id, 'delivered'],
    ],
  );
  const byRef = (await call('GET', '/v1/messages?clientRef=order-7')).json.messages as Array<{
    id: string;
    clientRef: string;
    metadata: Record<string, string>;
  }>;
  assert.deepEqual(
    byRef.map((m) => [m.id, m.clientRef, m.metadata]),
    [[viaOwnUrl.json.id, 'order-7', { userId: 'u-7' }]],
  );
  const usage = await call('GET', '/v1/usage?groupBy=provider');
  const total = usage.json.total as { messages: number; segments: number };
  assert.ok(total.messages >= 2 && total.segments >= 2, JSON.stringify(usage.json));
});
