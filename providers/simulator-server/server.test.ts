/**
 * The standalone simulator as the gateway sees it: reached through the generic HTTP adapter with
 * the definition `simulatorProviderDefinition` makes, its receipts verified by that adapter.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createLogger } from '../../core/logger.ts';
import { GenericHttpProvider } from '../generic-http/adapter.ts';
import { genericHttpSettings } from '../generic-http/settings.ts';
import { ProviderError, type SendRequest } from '../provider.ts';
import { simulatorProviderDefinition } from './definition.ts';
import { type SimulatorLog, type SimulatorServer, startSimulatorServer } from './server.ts';

const CONTROL = 'control-token-of-the-test';
const SEND_KEY = 'send-key-of-the-test-0001';
const SECRET = 'receipt-secret-of-the-test';

let simulator: SimulatorServer;
let adapter: GenericHttpProvider;
const receipts: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    receipts.push({ headers: req.headers, body });
    res.end('ok');
  });
});
let callbackUrl = '';

before(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/receipts/sim-x`;
  simulator = await startSimulatorServer({
    providers: ['sim-x'],
    controlToken: CONTROL,
    sendKey: SEND_KEY,
    receiptSecret: SECRET,
    latencyMs: 0,
    receiptDelayMs: 0,
    logger: createLogger({ level: 'silent' }),
  });
  const definition = simulatorProviderDefinition({
    name: 'sim-x',
    baseUrl: simulator.url,
    sendKey: SEND_KEY,
    receiptSecret: SECRET,
  });
  adapter = new GenericHttpProvider('sim-x', genericHttpSettings('sim-x', definition.options));
});

after(async () => {
  await simulator.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

let serial = 0;
function request(): SendRequest {
  serial++;
  return {
    messageId: `01J0000000000000000000${String(1000 + serial)}`,
    tenantId: 't',
    to: `+1415555${String(1000 + serial)}`,
    from: 'Pigeon',
    body: `hello "${serial}"`,
    segments: 1,
    messageClass: 'transactional',
    country: 'US',
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    callbackUrl,
  };
}

const control = (path: string, init: RequestInit = {}, token = CONTROL) =>
  fetch(`${simulator.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
const behave = (body: unknown) =>
  control('/providers/sim-x/behaviour', { method: 'PUT', body: JSON.stringify(body) });
const log = async () => (await (await control('/log')).json()) as SimulatorLog;
const waitForReceipts = async (n: number) => {
  for (let i = 0; i < 200 && receipts.length < n; i++) await new Promise((r) => setTimeout(r, 10));
};

test('a message sent is logged with our reference, and its signed receipt parses as delivered', async () => {
  const req = request();
  const result = await adapter.send(req, AbortSignal.timeout(5_000));
  assert.match(result.providerMessageId, /^SIM/);
  const entry = (await log()).messages.find((m) => m.reference === req.messageId);
  assert.equal(entry?.id, result.providerMessageId);
  assert.equal(entry?.body, req.body);
  await waitForReceipts(1);
  const posted = receipts.find((r) => r.body.includes(req.messageId))!;
  const parsed = await adapter.parseReceipt({
    headers: posted.headers,
    rawBody: posted.body,
    query: {},
  } as never);
  assert.deepEqual(
    parsed.map((r) => [r.providerMessageId, r.status, r.reference]),
    [[result.providerMessageId, 'delivered', req.messageId]],
  );
});

test('down: refused before taking it, so the gateway knows it was not sent', async () => {
  assert.equal((await behave({ mode: 'down' })).status, 200);
  const before = await log();
  const error = await adapter.send(request(), AbortSignal.timeout(5_000)).catch((e: unknown) => e);
  assert.ok(error instanceof ProviderError);
  assert.equal(error.errorClass, 'retryable');
  assert.equal(error.sent, 'no');
  const now = await log();
  assert.equal(now.count, before.count);
  assert.equal(now.refused, before.refused + 1);
  assert.equal((await control('/providers/sim-x/behaviour', { method: 'DELETE' })).status, 204);
});

test('throttle: a 429 with Retry-After, read as throttled', async () => {
  await behave({ mode: 'throttle', retryAfterMs: 2_000, forMs: 60_000 });
  const error = await adapter.send(request(), AbortSignal.timeout(5_000)).catch((e: unknown) => e);
  assert.ok(error instanceof ProviderError);
  assert.equal(error.errorClass, 'throttled');
  assert.equal(error.retryAfterMs, 2_000);
  await behave({ mode: 'normal' });
});

test('ambiguous: the provider takes it but the answer never comes in time (sent: maybe)', async () => {
  await behave({ mode: 'ambiguous', hangMs: 10_000 });
  const req = request();
  const error = await adapter.send(req, AbortSignal.timeout(300)).catch((e: unknown) => e);
  assert.ok(error instanceof ProviderError);
  assert.equal(error.sent, 'maybe');
  assert.ok(
    (await log()).messages.some((m) => m.reference === req.messageId),
    'taken all the same',
  );
  await behave({ mode: 'normal' });
});

test('slow: taken, answered late', async () => {
  await behave({ mode: 'slow', slowMs: 200 });
  const started = Date.now();
  await adapter.send(request(), AbortSignal.timeout(5_000));
  assert.ok(Date.now() - started >= 200);
  await behave({ mode: 'normal' });
});

test('the log and the switches need the control token; sends need the send key', async () => {
  const denied = await control('/log', {}, SEND_KEY);
  assert.equal(denied.status, 401);
  assert.equal(denied.headers.get('content-type'), 'application/problem+json');
  assert.equal(
    (await control('/providers/sim-x/behaviour', { method: 'PUT', body: '{"mode":"down"}' }, 'x')).status,
    401,
  );
  const send = await fetch(`${simulator.url}/providers/sim-x/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CONTROL}` },
    body: '{}',
  });
  assert.equal(send.status, 401);
  assert.equal((await behave({ mode: 'asleep' })).status, 400);
  assert.equal(
    (await control('/providers/nobody/behaviour', { method: 'PUT', body: '{"mode":"down"}' })).status,
    404,
  );
  assert.equal(
    (await log()).messages.every((m) => m.provider === 'sim-x'),
    true,
  );
});
