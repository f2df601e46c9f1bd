import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { FakeHttpProvider } from '../../test/fakes/generic-http-fake.ts';
import {
  assertReceiptRefused,
  assertRefusedPortNotSent,
  expectProviderError,
  inboundRequest,
  sendRequest,
  testDeps,
} from '../../test/support/provider-testing.ts';
import { createGenericHttp, GenericHttpProvider } from './adapter.ts';
import { genericHttpSettings } from './settings.ts';
import type { ProviderAdapter, SendRequest } from '../provider.ts';

const deps = testDeps();
const TRICKY = 'He said "hi" \\ bye\nnext line 😀 & a=b+c%20';

/** The adapter reads no tenant, class or expiry; these are the fields the templates show. */
const request = (overrides: Partial<SendRequest> = {}): SendRequest =>
  sendRequest({
    messageId: '01J0000000000000000000000A',
    from: 'Pigeon',
    body: 'hello',
    segments: 2,
    callbackUrl: 'https://gw.example/v1/receipts/agg?x=1&y=2',
    ...overrides,
  });

describe('generic HTTP provider', () => {
  let fake: FakeHttpProvider;
  const make = (options: Record<string, unknown>): ProviderAdapter =>
    createGenericHttp('agg', { url: `${fake.url}/sms`, ...options }, deps);

  before(async () => {
    fake = await FakeHttpProvider.start();
  });
  afterEach(() => {
    fake.requests.length = 0;
    fake.reply = () => ({ status: 200, body: '{"id":"P-1"}' });
  });
  after(async () => {
    await fake.close();
  });

  describe('request templates', () => {
    test('json encoding escapes quotes, backslashes, newlines and keeps emoji', async () => {
      const adapter = make({
        body: '{"to":"{{to}}","digits":"{{toDigits}}","from":"{{from}}","text":"{{body}}","ref":"{{messageId}}","cb":"{{callbackUrl}}","parts":{{segments}}}',
        bodyEncoding: 'json',
        messageIdPath: 'id',
      });
      const result = await adapter.send(request({ body: TRICKY }), AbortSignal.timeout(2000));
      assert.equal(result.providerMessageId, 'P-1');
      const [sent] = fake.requests;
      assert.equal(sent?.method, 'POST');
      assert.equal(sent?.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(sent?.body ?? ''), {
        to: '+14155550123',
        digits: '14155550123',
        from: 'Pigeon',
        text: TRICKY,
        ref: '01J0000000000000000000000A',
        cb: 'https://gw.example/v1/receipts/agg?x=1&y=2',
        parts: 2,
      });
    });

    test('form encoding url-encodes every value, so & and = stay inside it', async () => {
      const adapter = make({ body: 'to={{to}}&text={{body}}&cb={{callbackUrl}}', bodyEncoding: 'form' });
      await adapter.send(request({ body: TRICKY }), AbortSignal.timeout(2000));
      const [sent] = fake.requests;
      assert.equal(sent?.headers['content-type'], 'application/x-www-form-urlencoded');
      const form = new URLSearchParams(sent?.body);
      assert.deepEqual([...form.keys()], ['to', 'text', 'cb']);
      assert.equal(form.get('to'), '+14155550123');
      assert.equal(form.get('text'), TRICKY);
      assert.equal(form.get('cb'), 'https://gw.example/v1/receipts/agg?x=1&y=2');
    });

    test('raw encoding inserts values as they are; headers and URL are templates too', async () => {
      const adapter = make({
        url: `${fake.url}/send/{{messageId}}?to={{to}}`,
        method: 'PUT',
        headers: { 'X-Ref': '{{messageId}}', 'X-Text': '{{body}}', Authorization: 'Bearer k-123' },
        body: '{{body}}',
        bodyEncoding: 'raw',
      });
      await adapter.send(request({ body: TRICKY }), AbortSignal.timeout(2000));
      const [sent] = fake.requests;
      assert.equal(sent?.method, 'PUT');
      assert.equal(sent?.body, TRICKY);
      assert.equal(sent?.url, '/send/01J0000000000000000000000A?to=%2B14155550123');
      assert.equal(sent?.headers['x-ref'], '01J0000000000000000000000A');
      assert.equal(decodeURIComponent(String(sent?.headers['x-text'])), TRICKY);
      assert.equal(sent?.headers.authorization, 'Bearer k-123');
      assert.match(String(sent?.headers['content-type']), /^text\/plain/);
    });

    test('without an id in the answer, our message id stands in (receipts then match by reference)', async () => {
      fake.reply = () => ({ status: 202, body: 'queued' });
      const adapter = make({ body: '{{body}}', bodyEncoding: 'raw', messageIdPath: 'data.id' });
      const result = await adapter.send(request(), AbortSignal.timeout(2000));
      assert.equal(result.providerMessageId, '01J0000000000000000000000A');
    });
  });

  describe('outcome matchers', () => {
    const options = {
      body: '{"text":"{{body}}"}',
      messageIdPath: 'data.id',
      errorCodePath: 'code',
      permanent: { jsonPath: 'error', equals: 'invalid_number' },
      throttled: { bodyContains: 'slow down' },
      transient: { status: [503, 504] },
      success: { status: [200], jsonPath: 'ok', equals: true },
    };
    type Case = [
      string,
      { status: number; body: string; headers?: Record<string, string> },
      string,
      string,
      string?,
    ];
    const cases: Case[] = [
      [
        'permanent wins over success',
        { status: 200, body: '{"ok":true,"error":"invalid_number","code":"E21"}' },
        'permanent',
        'E21',
      ],
      [
        'throttled by body text, with Retry-After',
        { status: 200, body: '{"msg":"slow down","code":7}', headers: { 'retry-after': '3' } },
        'throttled',
        '7',
      ],
      ['transient by status', { status: 503, body: 'busy' }, 'retryable', '503'],
      ['unmatched 500 falls back to the HTTP reading', { status: 500, body: '' }, 'retryable', '500'],
      ['unmatched 429 falls back to throttled', { status: 429, body: '' }, 'throttled', '429'],
      ['unmatched 401 falls back to retryable', { status: 401, body: '' }, 'retryable', '401'],
      ['unmatched 400 falls back to permanent', { status: 400, body: '{"code":"BAD"}' }, 'permanent', 'BAD'],
      [
        'a 2xx that matches no outcome is permanent but may have been sent',
        { status: 200, body: '{"ok":false}' },
        'permanent',
        'UNRECOGNISED_RESPONSE',
        'maybe',
      ],
    ];
    for (const [name, reply, errorClass, rawCode, sent] of cases) {
      test(name, async () => {
        fake.reply = () => reply;
        const error = await expectProviderError(make(options).send(request(), AbortSignal.timeout(2000)), {
          errorClass,
          rawCode,
          sent: sent ?? 'no',
        });
        if (reply.headers?.['retry-after']) assert.equal(error.retryAfterMs, 3000);
      });
    }

    test('success reads the provider id at messageIdPath', async () => {
      fake.reply = () => ({ status: 200, body: '{"ok":true,"data":{"id":98765}}' });
      const result = await make(options).send(request(), AbortSignal.timeout(2000));
      assert.equal(result.providerMessageId, '98765');
    });
  });

  describe('transport', () => {
    test('no answer before the signal aborts is an ambiguous timeout', async () => {
      fake.reply = () => ({ hang: true });
      await expectProviderError(make({ body: '{{body}}' }).send(request(), AbortSignal.timeout(150)), {
        rawCode: 'TIMEOUT',
        sent: 'maybe',
      });
    });

    test('a refused connection is a definite non-send', async () => {
      await assertRefusedPortNotSent((base) =>
        createGenericHttp('agg', { url: `${base}/sms`, body: '{{body}}' }, deps).send(
          request(),
          AbortSignal.timeout(2000),
        ),
      );
    });

    test('a connection reset after the request went out is ambiguous', async () => {
      fake.reply = () => ({ destroy: true });
      await expectProviderError(make({ body: '{{body}}' }).send(request(), AbortSignal.timeout(2000)), {
        sent: 'maybe',
      });
    });
  });
});

describe('generic HTTP receipts', () => {
  const SECRET = 'receipt-secret-0123456789';
  const receiptOptions = {
    url: 'https://agg.example/sms',
    receipt: {
      signatureHeader: 'X-Signature',
      signatureSecret: SECRET,
      idPath: 'msg.id',
      referencePath: 'msg.ref',
      statusPath: 'msg.state',
      doneAtPath: 'msg.at',
      statusMap: { DELIVERED: 'delivered', failed: 'undelivered', expired: 'expired', rejected: 'rejected' },
    },
  };
  const body = JSON.stringify({
    msg: { id: 'P-1', ref: '01J0000000000000000000000A', state: 'delivered', at: '2024-01-01T12:00:05Z' },
  });
  const sign = (payload: string) => createHmac('sha256', SECRET).update(payload).digest('hex');
  const inbound = (rawBody: string, headers: Record<string, string>) =>
    inboundRequest('/v1/receipts/agg', rawBody, headers);

  test('a receipt signed over the raw body is parsed, its status word mapped case-insensitively', async () => {
    const adapter = createGenericHttp('agg', receiptOptions, deps);
    const receipts = await adapter.parseReceipt(inbound(body, { 'x-signature': sign(body) }));
    assert.deepEqual(receipts, [
      {
        providerMessageId: 'P-1',
        reference: '01J0000000000000000000000A',
        status: 'delivered',
        providerStatus: 'delivered',
        doneAt: '2024-01-01T12:00:05.000Z',
      },
    ]);
  });

  test('forged, missing or body-swapped signatures are refused', async () => {
    const adapter = createGenericHttp('agg', receiptOptions, deps);
    const forged = createHmac('sha256', 'not-the-secret').update(body).digest('hex');
    await assertReceiptRefused(adapter.parseReceipt(inbound(body, { 'x-signature': forged })));
    await assertReceiptRefused(adapter.parseReceipt(inbound(body, {})));
    const other = body.replace('delivered', 'failed');
    await assertReceiptRefused(adapter.parseReceipt(inbound(other, { 'x-signature': sign(body) })));
  });

  test('with timestampHeader the signature covers `${timestamp}.${body}` and stale ones are refused', async () => {
    const now = 1_700_000_000_000;
    const adapter = new GenericHttpProvider(
      'agg',
      genericHttpSettings('agg', {
        ...receiptOptions,
        receipt: { ...receiptOptions.receipt, timestampHeader: 'X-Timestamp', signaturePrefix: 'sha256=' },
      }),
      () => now,
    );
    const ts = String(now / 1000);
    const good = await adapter.parseReceipt(
      inbound(body, { 'x-timestamp': ts, 'x-signature': `sha256=${sign(`${ts}.${body}`)}` }),
    );
    assert.equal(good.length, 1);
    await assertReceiptRefused(
      adapter.parseReceipt(inbound(body, { 'x-timestamp': ts, 'x-signature': `sha256=${sign(body)}` })),
    );
    const stale = String(now / 1000 - 3600);
    await assertReceiptRefused(
      adapter.parseReceipt(
        inbound(body, { 'x-timestamp': stale, 'x-signature': `sha256=${sign(`${stale}.${body}`)}` }),
      ),
    );
  });

  test('a provider without a receipt secret refuses every receipt', async () => {
    const adapter = createGenericHttp('agg', { url: 'https://agg.example/sms' }, deps);
    await assertReceiptRefused(adapter.parseReceipt(inbound(body, { 'x-signature': sign(body) })));
  });

  test('a batch under itemsPath yields one receipt per mapped item; unmapped words are intermediate', async () => {
    const adapter = createGenericHttp(
      'agg',
      {
        ...receiptOptions,
        receipt: { ...receiptOptions.receipt, itemsPath: 'items', idPath: 'id', statusPath: 'state' },
      },
      deps,
    );
    const batch = JSON.stringify({
      items: [
        { id: 'A', state: 'FAILED' },
        { id: 'B', state: 'buffered' },
        { id: 7, state: 'Expired' },
      ],
    });
    const receipts = await adapter.parseReceipt(inbound(batch, { 'x-signature': sign(batch) }));
    assert.deepEqual(
      receipts.map((r) => [r.providerMessageId, r.status, r.providerStatus]),
      [
        ['A', 'undelivered', 'FAILED'],
        ['7', 'expired', 'Expired'],
      ],
    );
  });
});
