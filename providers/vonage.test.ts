import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { PostResult } from '../test/fakes/fake-http.ts';
import { startVonageFake, type VonageFake, type VonageReceiptOptions } from '../test/fakes/vonage-fake.ts';
import {
  assertBadCredentials,
  assertConfigError,
  assertFaultFails,
  assertReceiptRefused,
  assertRefusedOverHttp,
  assertRefusingFakeNotSent,
  assertStatusClasses,
  assertTimeoutAbortsRequest,
  expectProviderError,
  type ReceiptEndpoint,
  receiptEndpoint,
  registeredAdapter,
  sendRequest as testRequest,
  testDeps,
} from '../test/support/provider-testing.ts';
import type { ParsedReceipt, ProviderAdapter, SendRequest } from './provider.ts';
import {
  createVonage,
  ttlMs,
  VONAGE_SIGNATURE_METHODS,
  VONAGE_STATUS_CLASSES,
  validVonageSignature,
  vonageSignature,
} from './vonage.ts';

const deps = testDeps();
const API_KEY = 'abcd1234';
const API_SECRET = 'pigeon-vonage-api-secret';
const SIGNATURE_SECRET = 'pigeon-vonage-signature-secret-0001';
const PRICE = '0.03330000';
const MESSAGE_ID = '01M83VJ95Z0MCP8CVEJY3VS619';

let fake: VonageFake;
let endpoint: ReceiptEndpoint;

before(async () => {
  fake = await startVonageFake({
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    signatureSecret: SIGNATURE_SECRET,
    signatureMethod: 'sha256hmac',
    pricePerPart: PRICE,
  });
  endpoint = await receiptEndpoint(vonage(), '/v1/receipts/vonage-main');
});
after(async () => {
  await endpoint.close();
  await fake.close();
});
beforeEach(() => fake.setFault(undefined));

/** Signed requests and signed receipts, as a production account is configured. */
function vonage(options: Record<string, unknown> = {}): ProviderAdapter {
  return createVonage(
    'vonage-main',
    {
      apiKey: API_KEY,
      signatureSecret: SIGNATURE_SECRET,
      signatureMethod: 'sha256hmac',
      baseUrl: fake.url,
      from: 'PIGEON',
      ...options,
    },
    deps,
  );
}

const sendRequest = (overrides: Partial<SendRequest> = {}): SendRequest =>
  testRequest({
    messageId: MESSAGE_ID,
    to: '+447700900000',
    country: 'GB',
    callbackUrl: endpoint.url,
    ...overrides,
  });
const send = (adapter: ProviderAdapter) => adapter.send(sendRequest(), AbortSignal.timeout(5_000));

describe('vonage send', () => {
  test('posts a signed form to /sms/json, without the API secret', async () => {
    const before = fake.requests.length;
    await vonage().send(sendRequest({ from: '+14155550100' }), AbortSignal.timeout(5_000));
    const request = fake.requests[before]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/sms/json');
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.ok(request.authenticated, 'the fake verified the signature');
    const { params } = request;
    assert.equal(params.api_key, API_KEY);
    assert.equal(params.api_secret, undefined);
    assert.match(params.sig!, /^[0-9a-f]{64}$/);
    assert.ok(Math.abs(Number(params.timestamp) - Date.now() / 1000) < 60);
    assert.equal(params.from, '14155550100', 'numbers go without the +');
    assert.equal(params.to, '447700900000');
    assert.equal(params.text, 'Your code is 123456');
    assert.equal(params.type, 'text');
    assert.equal(params['client-ref'], MESSAGE_ID);
    assert.equal(params.callback, endpoint.url);
    const ttl = Number(params.ttl);
    assert.ok(ttl > 290_000 && ttl <= 300_000, `ttl ${ttl}`);
    assert.ok(!request.body.includes(SIGNATURE_SECRET));
  });

  test('authenticates with the API secret when no signature secret is set', async () => {
    const adapter = vonage({ signatureSecret: undefined, apiSecret: API_SECRET });
    await send(adapter);
    const request = fake.requests.at(-1)!;
    assert.ok(request.authenticated);
    assert.equal(request.params.api_secret, API_SECRET);
    assert.equal(request.params.sig, undefined);
    assert.equal(request.params.from, 'PIGEON', 'the configured sender, alphanumeric as it is');
  });

  test('signs with each of Vonage signature methods', async () => {
    for (const method of VONAGE_SIGNATURE_METHODS) {
      const methodFake = await startVonageFake({
        apiKey: API_KEY,
        signatureSecret: SIGNATURE_SECRET,
        signatureMethod: method,
      });
      try {
        const adapter = vonage({ baseUrl: methodFake.url, signatureMethod: method });
        await send(adapter);
        assert.ok(methodFake.requests[0]!.authenticated, method);
      } finally {
        await methodFake.close();
      }
    }
  });

  test('returns the first part id, every part id, the part count and the summed price', async () => {
    const single = await send(vonage());
    const message = fake.accepted.at(-1)!;
    assert.equal(single.providerMessageId, message.messageIds[0]);
    assert.deepEqual(single.partIds, message.messageIds);
    assert.equal(single.segments, 1);
    assert.equal(single.cost, 0.0333);

    const body = 'A long notice that needs several parts. '.repeat(10); // 400 GSM characters
    const multi = await vonage().send(sendRequest({ body }), AbortSignal.timeout(5_000));
    const parts = fake.accepted.at(-1)!;
    assert.equal(parts.parts.length, 3);
    assert.equal(multi.providerMessageId, parts.messageIds[0]);
    assert.deepEqual(multi.partIds, parts.messageIds);
    assert.equal(new Set(multi.partIds).size, 3);
    assert.equal(multi.segments, 3);
    assert.equal(multi.cost, 0.0999);
  });

  test('sends a body outside GSM-7 as unicode, which Vonage splits in 67-unit parts', async () => {
    const result = await vonage().send(
      sendRequest({ body: 'Ваш код: 123456. '.repeat(5) }),
      AbortSignal.timeout(5_000),
    );
    assert.equal(fake.requests.at(-1)!.params.type, 'unicode');
    assert.equal(result.segments, 2);
    assert.equal(result.partIds?.length, 2);
  });

  test('bounds ttl by Vonage limits', () => {
    assert.equal(ttlMs(new Date(60_000).toISOString(), 0), 60_000);
    assert.equal(ttlMs(new Date(1_000).toISOString(), 0), 20_000);
    assert.equal(ttlMs(new Date(30 * 86_400_000).toISOString(), 0), 604_800_000);
    assert.equal(ttlMs('not a date', 0), undefined);
  });

  test('refuses to send without any sender, before calling Vonage', async () => {
    const before = fake.requests.length;
    await expectProviderError(send(vonage({ from: undefined })), { rawCode: 'NO_SENDER', sent: 'no' });
    assert.equal(fake.requests.length, before);
  });
});

describe('vonage error mapping', () => {
  const cases: Array<[code: number, errorClass: string]> = [
    [3, 'permanent'],
    [6, 'permanent'],
    [12, 'permanent'],
    [33, 'permanent'],
    [7, 'fraud_blocked'],
    [5, 'retryable'],
    [9, 'retryable'],
    [15, 'retryable'],
    [29, 'retryable'],
  ];
  for (const [code, errorClass] of cases) {
    test(`maps status ${code} to ${errorClass}, keeping the code`, async () => {
      await assertFaultFails(fake, { kind: 'error', code }, () => send(vonage()), {
        errorClass,
        rawCode: String(code),
        sent: 'no',
      });
      assert.equal(VONAGE_STATUS_CLASSES[String(code)], errorClass);
    });
  }

  test('an invalid number, as Vonage itself rejects it, is permanent', async () => {
    await expectProviderError(vonage().send(sendRequest({ to: '+12' }), AbortSignal.timeout(5_000)), {
      errorClass: 'permanent',
      rawCode: '3',
    });
  });

  test('throttling (status 1) is throttled and waits as long as Vonage asks', async () => {
    await fake.setFault({ kind: 'throttle', retryAfterSeconds: 0.25 });
    await expectProviderError(send(vonage()), {
      errorClass: 'throttled',
      rawCode: '1',
      retryAfterMs: 250,
      sent: 'no',
    });
  });

  test('a throttled part after others went out is ambiguous: the message was partly sent', async () => {
    await fake.setFault({ kind: 'error', code: 1, afterParts: 1 });
    const body = 'A long notice that needs several parts. '.repeat(10);
    const err = await expectProviderError(vonage().send(sendRequest({ body }), AbortSignal.timeout(5_000)), {
      errorClass: 'throttled',
      rawCode: '1',
      sent: 'maybe',
    });
    assert.match(err.message, /after 1 of 3 parts/);
  });

  test('HTTP errors in front of the API are classed by status', async () => {
    await assertStatusClasses(fake, () => send(vonage()), [
      [503, 'retryable'],
      [429, 'throttled'],
    ]);
  });

  test('wrong credentials (status 4, 14) are retryable and never appear in the error', async () => {
    const secrets = ['wrong-secret-value', 'wrong-signature-secret', 'pigeon-vonage'];
    const bySecret = vonage({ signatureSecret: undefined, apiSecret: 'wrong-secret-value' });
    await assertBadCredentials(fake, send(bySecret), '4', secrets);
    const bySignature = vonage({ signatureSecret: 'wrong-signature-secret' });
    await assertBadCredentials(fake, send(bySignature), '14', secrets);
  });

  test('our timeout aborts a request Vonage never answers: ambiguous', async () => {
    const request = await assertTimeoutAbortsRequest(fake, (signal) => vonage().send(sendRequest(), signal));
    assert.equal(request.message, undefined);
  });

  test('a send Vonage took but never answered is ambiguous, and its receipts carry our reference', async () => {
    await fake.setFault({ kind: 'acceptThenHang' });
    await expectProviderError(vonage().send(sendRequest(), AbortSignal.timeout(200)), {
      rawCode: 'TIMEOUT',
      sent: 'maybe',
    });
    const message = fake.accepted.at(-1)!;
    assert.equal(message.clientRef, MESSAGE_ID);
    const { result } = await endpoint.receive(() => fake.sendReceipt(message.messageIds[0]!, 'delivered'));
    assert.equal((result as ParsedReceipt[])[0]!.reference, MESSAGE_ID);
  });

  test('a refused connection is certainly not sent; clearing the fault serves the same URL again', async () => {
    const result = await assertRefusingFakeNotSent(fake, () => send(vonage()));
    assert.ok(result.providerMessageId);
  });
});

describe('vonage signatures', () => {
  test('computes the official signatures (Vonage Node SDK sms signature data set)', () => {
    const params = {
      'message-timestamp': '2013-11-21 15:27:30',
      messageId: '020000001B0FE827',
      msisdn: '14843472194',
      text: 'Test again',
      timestamp: '1385047698',
      to: '13239877404',
      type: 'text',
    };
    const secret = 'my_secret_key_for_testing';
    const expected = {
      md5hash: 'd2e7b1dc968737c5998ad624e02f90b7',
      md5hmac: 'DDEBD46008C2D4E93CCE578A332A52D5',
      sha1hmac: '27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A',
      sha256hmac: 'DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330',
      sha512hmac:
        'E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82',
    } as const;
    for (const method of VONAGE_SIGNATURE_METHODS) {
      assert.equal(vonageSignature(params, secret, method), expected[method].toLowerCase(), method);
      assert.ok(validVonageSignature({ ...params, sig: expected[method] }, secret, method), method);
      assert.ok(!validVonageSignature({ ...params, sig: expected[method] }, 'other_secret', method), method);
      assert.ok(
        !validVonageSignature({ ...params, text: 'Test again!', sig: expected[method] }, secret, method),
      );
    }
  });

  test('computes the official signatures of the Ruby and Python SDK tests', () => {
    const params = { a: '1', b: '2', timestamp: '1461605396' };
    // md5hash from nexmo-ruby / vonage-python; the HMAC values from vonage-python's test_signature.py.
    assert.equal(vonageSignature(params, 'secret', 'md5hash'), '6af838ef94998832dbfc29020b564830');
    assert.equal(vonageSignature(params, 'secret', 'md5hmac'), 'c15c21ced558c93a226c305f58f902f2');
    assert.equal(vonageSignature(params, 'secret', 'sha1hmac'), '3e19a4e6880fdc2c1426bfd0587c98b9532f0210');
    assert.equal(
      vonageSignature(params, 'secret', 'sha256hmac'),
      'a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24',
    );
    assert.ok(
      validVonageSignature({ ...params, sig: '6af838ef94998832dbfc29020b564830' }, 'secret', 'md5hash'),
    );
    assert.ok(!validVonageSignature({ ...params, sig: 'xxx' }, 'secret', 'md5hash'));
    assert.ok(!validVonageSignature(params, 'secret', 'md5hash'), 'no sig at all');
  });

  test('replaces & and = in values, so they cannot shift fields', () => {
    assert.equal(
      vonageSignature({ text: 'a=b&c' }, 's', 'md5hash'),
      vonageSignature({ text: 'a_b_c' }, 's', 'md5hash'),
    );
  });
});

describe('vonage delivery receipts', () => {
  async function deliver(status: string, options: VonageReceiptOptions = {}, body?: string) {
    const result = await vonage().send(sendRequest(body ? { body } : {}), AbortSignal.timeout(5_000));
    const outcome = await endpoint.receive(() => fake.sendReceipt(result.providerMessageId, status, options));
    return { result, posted: outcome.posted, parsed: outcome.result };
  }

  test('a signed JSON receipt becomes a receipt for the part, with our reference', async () => {
    const { result, posted, parsed } = await deliver('delivered');
    assert.equal(posted.status, 200);
    const [receipt] = parsed as ParsedReceipt[];
    assert.equal(receipt!.providerMessageId, result.providerMessageId);
    assert.equal(receipt!.reference, MESSAGE_ID);
    assert.equal(receipt!.status, 'delivered');
    assert.equal(receipt!.providerStatus, 'delivered');
    assert.ok(Math.abs(Date.parse(receipt!.doneAt!) - Date.now()) < 120_000, receipt!.doneAt);
  });

  test('reads receipts sent as a GET query string and as a POST form', async () => {
    for (const method of ['GET', 'POST-FORM'] as const) {
      const { parsed } = await deliver('delivered', { method });
      assert.equal((parsed as ParsedReceipt[])[0]?.status, 'delivered', method);
    }
  });

  test('maps final statuses and keeps the error code; intermediate ones are no receipt', async () => {
    const cases: Array<[string, string | undefined, string | undefined]> = [
      ['expired', 'expired', '2'],
      ['failed', 'undelivered', '8'],
      ['rejected', 'rejected', '6'],
      ['unknown', 'unknown', '1'],
      ['accepted', undefined, undefined],
      ['buffered', undefined, undefined],
    ];
    for (const [status, normalised, providerStatus] of cases) {
      const { parsed } = await deliver(status);
      if (normalised === undefined) {
        assert.deepEqual(parsed, [], status);
        continue;
      }
      const [receipt] = parsed as ParsedReceipt[];
      assert.equal(receipt!.status, normalised, status);
      assert.equal(receipt!.providerStatus, providerStatus, status);
    }
    const optedOut = (await deliver('failed', { errCode: '9' })).parsed as ParsedReceipt[];
    assert.equal(optedOut[0]!.providerStatus, '9');
  });

  test('each part gets its own receipt', async () => {
    const body = 'A long notice that needs several parts. '.repeat(10);
    const result = await vonage().send(sendRequest({ body }), AbortSignal.timeout(5_000));
    const before = endpoint.results.length;
    for (const partId of result.partIds!) await fake.sendReceipt(partId, 'delivered');
    const receipts = (endpoint.results.slice(before) as ParsedReceipt[][]).flat();
    assert.deepEqual(
      receipts.map((r) => r.providerMessageId),
      result.partIds,
    );
    assert.ok(receipts.every((r) => r.reference === MESSAGE_ID && r.status === 'delivered'));
  });

  const refused = (delivery: { posted: PostResult; parsed: unknown }) =>
    assertRefusedOverHttp({ posted: delivery.posted, result: delivery.parsed });

  test('a receipt signed with another secret is refused', async () => {
    refused(await deliver('delivered', { signatureSecret: 'someone-elses-secret' }));
  });

  test('a receipt changed after signing is refused', async () => {
    refused(await deliver('failed', { tamper: true }));
  });

  test('an unsigned receipt is refused', async () => {
    refused(await deliver('delivered', { unsigned: true }));
  });

  test('a correctly signed receipt more than five minutes old is refused', async () => {
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    refused(await deliver('delivered', { timestamp: stale }));
    refused(await deliver('delivered', { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 }));
  });

  test('without a signature secret every receipt is refused, even a validly signed one', async () => {
    const adapter = vonage({ signatureSecret: undefined, apiSecret: API_SECRET });
    const { providerMessageId } = await send(vonage());
    const dlr = fake.receipt(providerMessageId, 'delivered');
    await assertReceiptRefused(
      adapter.parseReceipt({
        method: dlr.method,
        url: '/v1/receipts/vonage-main',
        fullUrl: dlr.url,
        headers: dlr.headers,
        rawBody: dlr.body,
      }),
    );
  });
});

describe('vonage configuration', () => {
  test('is registered as type "vonage"', () => {
    registeredAdapter({ name: 'vg', type: 'vonage', options: { apiKey: API_KEY, apiSecret: API_SECRET } });
  });

  test('names a missing or bad option without echoing credentials', () => {
    const configError = (options: Record<string, unknown>, pattern: RegExp) =>
      assertConfigError(() => createVonage('vg', options, deps), pattern, [API_SECRET]);
    configError({ apiSecret: API_SECRET }, /apiKey/);
    configError({ apiKey: API_KEY }, /apiSecret.*signatureSecret/);
    configError({ apiKey: API_KEY, apiSecret: API_SECRET, signatureMethod: 'sha3' }, /signatureMethod/);
    configError({ apiKey: API_KEY, apiSecret: API_SECRET, baseUrl: 'nope' }, /baseUrl/);
  });

  test('accepts Vonage dashboard names for the signature methods', () => {
    assert.doesNotThrow(() =>
      createVonage('vg', { apiKey: API_KEY, signatureSecret: 's', signatureMethod: 'sha256' }, deps),
    );
  });
});
