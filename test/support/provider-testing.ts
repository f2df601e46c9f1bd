import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryCache } from '../../core/cache/memory-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { PigeonError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import {
  type InboundHttpRequest,
  type ParsedReceipt,
  type ProviderAdapter,
  type ProviderDeps,
  ProviderError,
  type SendRequest,
  type SendResult,
} from '../../providers/provider.ts';
import { createAdapter, type ProviderDefinition } from '../../providers/registry.ts';
import type { PostResult } from '../fakes/fake-http.ts';
import { freePort } from './ports.ts';

/**
 * What the provider adapters' tests share: their inputs (deps, a send request, an inbound
 * receipt), our end of the receipt webhook, assertions on what a send or a receipt was refused
 * with, and the cases every HTTP adapter must pass against its fake (a timeout aborts the request,
 * a refused connection is a definite non-send, a bare HTTP error is classed by its status).
 */

/** Deps for building adapters: default config, an in-memory cache, a silent logger. */
export function testDeps(): ProviderDeps {
  return { config: loadConfig({}), cache: new MemoryCache(), logger: createLogger({ level: 'silent' }) };
}

/** Builds `definition` through the registry, as the bridge does, and checks its type and name. */
export function registeredAdapter(definition: ProviderDefinition): ProviderAdapter {
  const adapter = createAdapter(definition, testDeps());
  assert.equal(adapter.type, definition.type);
  assert.equal(adapter.name, definition.name);
  return adapter;
}

/** A one-part OTP to a US number, expiring in five minutes, with `fields` replaced. */
export function sendRequest(fields: Partial<SendRequest> = {}): SendRequest {
  return {
    messageId: '01M83VJ95Z0MCP8CVEJY3VS619',
    tenantId: 'acme',
    to: '+14155550123',
    from: undefined,
    body: 'Your code is 123456',
    segments: 1,
    messageClass: 'otp',
    country: 'US',
    expiresAt: new Date(Date.now() + 300_000).toISOString(),
    callbackUrl: 'http://127.0.0.1:3000/v1/receipts/test',
    ...fields,
  };
}

/** A receipt POSTed to us at `url` (path and query) by way of https://pigeon.example. */
export function inboundRequest(
  url: string,
  rawBody: string,
  headers: InboundHttpRequest['headers'] = { 'content-type': 'application/json' },
): InboundHttpRequest {
  return { method: 'POST', url, fullUrl: `https://pigeon.example${url}`, headers, rawBody };
}

/** The ProviderError `promise` rejects with; fails the test when it resolves or rejects otherwise. */
export async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the send to fail');
}

export interface ExpectedError {
  errorClass?: string;
  rawCode?: string;
  sent?: string;
  retryAfterMs?: number | undefined;
}

/** The ProviderError `promise` rejects with, checked to carry each of the `expected` fields. */
export async function expectProviderError(
  promise: Promise<unknown>,
  expected: ExpectedError,
): Promise<ProviderError> {
  const error = await providerError(promise);
  for (const [field, value] of Object.entries(expected)) {
    assert.equal(error[field as keyof ExpectedError], value, `${field} of ${error.message}`);
  }
  return error;
}

/** Checks that `promise` rejects with PIGEON_ERR_RECEIPT_SIGNATURE: the receipt was not believed. */
export async function assertReceiptRefused(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof PigeonError, `expected a PigeonError, got ${String(err)}`);
    assert.equal(err.code, 'PIGEON_ERR_RECEIPT_SIGNATURE');
    return true;
  });
}

/**
 * Checks that `build` throws PIGEON_ERR_CONFIG naming the bad option (a pattern, or text the
 * message must contain) and repeating none of the `secrets`.
 */
export function assertConfigError(
  build: () => unknown,
  names: RegExp | string,
  secrets: readonly string[],
): void {
  assert.throws(build, (err: unknown) => {
    assert.ok(err instanceof PigeonError, `expected a PigeonError, got ${String(err)}`);
    assert.equal(err.code, 'PIGEON_ERR_CONFIG');
    if (typeof names === 'string') assert.ok(err.message.includes(names), err.message);
    else assert.match(err.message, names);
    for (const secret of secrets) assert.ok(!err.message.includes(secret), 'the message repeats a secret');
    return true;
  });
}

/** Rejects when `promise` has not settled within `ms`. */
async function withTimeout(promise: Promise<unknown>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A provider fake whose answers can be scripted (its setFault may resolve once the fault holds). */
export interface FaultyFake<Fault> {
  setFault(fault: Fault | undefined): unknown;
}

/** Runs `body` with the fake playing `fault`, and clears the fault however it ends. */
export async function withFault<Fault, T>(
  fake: FaultyFake<Fault>,
  fault: NoInfer<Fault>,
  body: () => Promise<T>,
): Promise<T> {
  await fake.setFault(fault);
  try {
    return await body();
  } finally {
    await fake.setFault(undefined);
  }
}

/** With the fake playing `fault`, the send fails with a ProviderError carrying the `expected` fields. */
export async function assertFaultFails<Fault>(
  fake: FaultyFake<Fault>,
  fault: NoInfer<Fault>,
  send: () => Promise<unknown>,
  expected: ExpectedError,
): Promise<void> {
  await withFault(fake, fault, () => expectProviderError(send(), expected));
}

// ---------------------------------------------------------------------------------------------
// Our end of the receipt webhook

export interface ReceiptEndpoint {
  /** Where the provider should post receipts: `http://127.0.0.1:<port><path>`. */
  url: string;
  /** What the adapter made of each receipt, or the code of the error it refused it with. */
  results: Array<ParsedReceipt[] | string>;
  /** Runs `post` (a fake posting one receipt here) and returns its answer and what became of it. */
  receive(post: () => Promise<PostResult>): Promise<{ posted: PostResult; result: ParsedReceipt[] | string }>;
  close(): Promise<void>;
}

/**
 * A local webhook at `path` that hands each receipt (GET or POST) to the adapter and answers as
 * the API's receipt route does: the adapter's receiptAck or `{"received":n}`, and the error's
 * status and code when the receipt is refused.
 */
export async function receiptEndpoint(adapter: ProviderAdapter, path: string): Promise<ReceiptEndpoint> {
  const results: Array<ParsedReceipt[] | string> = [];
  let origin = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const inbound: InboundHttpRequest = {
        method: req.method ?? 'POST',
        url: req.url ?? '/',
        fullUrl: `${origin}${req.url ?? '/'}`,
        headers: req.headers,
        rawBody: Buffer.concat(chunks).toString('utf8'),
      };
      adapter.parseReceipt(inbound).then(
        (receipts) => {
          results.push(receipts);
          const ack = adapter.receiptAck ?? {
            contentType: 'application/json',
            body: JSON.stringify({ received: receipts.length }),
          };
          res.writeHead(200, { 'content-type': ack.contentType });
          res.end(ack.body);
        },
        (err: unknown) => {
          results.push(err instanceof PigeonError ? err.code : String(err));
          res.writeHead(err instanceof PigeonError ? err.status : 500);
          res.end(err instanceof PigeonError ? err.code : 'error');
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}${path}`,
    results,
    async receive(post) {
      const before = results.length;
      const posted = await post();
      return { posted, result: results[before]! };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A receipt the webhook refused for its signature: answered 403, nothing parsed. */
export function assertRefusedOverHttp(outcome: { posted: PostResult; result: unknown }): void {
  assert.equal(outcome.result, 'PIGEON_ERR_RECEIPT_SIGNATURE');
  assert.equal(outcome.posted.status, 403);
}

// ---------------------------------------------------------------------------------------------
// Cases every HTTP adapter passes against its fake

/**
 * With the fake never answering, the send's timeout aborts the request in flight: retryable
 * TIMEOUT, maybe sent, within the timeout, and the fake sees the connection closed. Returns the
 * request as the fake recorded it.
 */
export async function assertTimeoutAbortsRequest<Request extends { closedEarly: Promise<void> }>(
  fake: FaultyFake<{ kind: 'hang' }> & { readonly requests: readonly Request[] },
  send: (signal: AbortSignal) => Promise<unknown>,
): Promise<Request> {
  return withFault(fake, { kind: 'hang' }, async () => {
    const before = fake.requests.length;
    const started = Date.now();
    await expectProviderError(send(AbortSignal.timeout(200)), {
      errorClass: 'retryable',
      rawCode: 'TIMEOUT',
      sent: 'maybe',
    });
    assert.ok(Date.now() - started < 2_000, 'the send outlived its timeout');
    const request = fake.requests[before];
    assert.ok(request, 'the request never reached the fake');
    await withTimeout(request.closedEarly, 2_000, 'the fake should see the connection closed');
    return request;
  });
}

/** A send to a port nobody listens on is a retryable ECONNREFUSED, certainly not sent. */
export async function assertRefusedPortNotSent(
  send: (baseUrl: string) => Promise<unknown>,
): Promise<ProviderError> {
  const port = await freePort();
  return expectProviderError(send(`http://127.0.0.1:${port}`), {
    errorClass: 'retryable',
    rawCode: 'ECONNREFUSED',
    sent: 'no',
  });
}

/**
 * With the fake refusing connections the send is a retryable ECONNREFUSED, certainly not sent;
 * once the fault is cleared the same URL serves again. Returns that second send's result.
 */
export async function assertRefusingFakeNotSent(
  fake: FaultyFake<{ kind: 'refuse' }>,
  send: () => Promise<SendResult>,
): Promise<SendResult> {
  await assertFaultFails(fake, { kind: 'refuse' }, send, {
    errorClass: 'retryable',
    rawCode: 'ECONNREFUSED',
    sent: 'no',
  });
  return send();
}

/** Each HTTP status answered without the provider's own error body is classed by status alone, not sent. */
export async function assertStatusClasses(
  fake: FaultyFake<{ kind: 'status'; status: number }>,
  send: () => Promise<unknown>,
  cases: ReadonlyArray<readonly [status: number, errorClass: string]>,
): Promise<void> {
  for (const [status, errorClass] of cases) {
    await assertFaultFails(fake, { kind: 'status', status }, send, {
      errorClass,
      rawCode: String(status),
      sent: 'no',
    });
  }
}

/**
 * A send with wrong credentials: the fake saw it unauthenticated, the error is retryable (another
 * provider may take the message), certainly not sent, and repeats none of the `secrets`.
 */
export async function assertBadCredentials(
  fake: { readonly requests: ReadonlyArray<{ authenticated: boolean }> },
  send: Promise<unknown>,
  rawCode: string,
  secrets: readonly string[],
): Promise<ProviderError> {
  const error = await expectProviderError(send, { errorClass: 'retryable', rawCode, sent: 'no' });
  assert.equal(fake.requests.at(-1)?.authenticated, false);
  const text = `${error.message} ${String(error.stack)}`;
  for (const secret of secrets) assert.ok(!text.includes(secret), 'the error repeats a secret');
  return error;
}
