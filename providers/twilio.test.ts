import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { PigeonError } from '../core/errors.ts';
import { startTwilioFake, type TwilioFake } from '../test/fakes/twilio-fake.ts';
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
import type { InboundHttpRequest, ParsedReceipt, ProviderAdapter, SendRequest } from './provider.ts';
import {
  createTwilio,
  TWILIO_ERROR_CLASSES,
  TWILIO_REFERENCE_PARAM,
  twilioSignature,
  validityPeriodSeconds,
  validTwilioSignature,
} from './twilio.ts';

const deps = testDeps();
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'pigeon-twilio-auth-token-0001';
const SERVICE_SID = `MG${'fedcba9876543210'.repeat(2)}`;
const FROM = '+15005550006';

let fake: TwilioFake;
let endpoint: ReceiptEndpoint;

before(async () => {
  fake = await startTwilioFake({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
  endpoint = await receiptEndpoint(twilio(), '/v1/receipts/twilio-main');
});
after(async () => {
  await endpoint.close();
  await fake.close();
});
beforeEach(() => fake.setFault(undefined));

function twilio(options: Record<string, unknown> = {}): ProviderAdapter {
  return createTwilio(
    'twilio-main',
    { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, baseUrl: fake.url, from: FROM, ...options },
    deps,
  );
}

const sendRequest = (overrides: Partial<SendRequest> = {}): SendRequest =>
  testRequest({ callbackUrl: endpoint.url, ...overrides });
const send = (adapter: ProviderAdapter) => adapter.send(sendRequest(), AbortSignal.timeout(5_000));

describe('twilio send', () => {
  test('posts a form to the account Messages.json with Basic auth', async () => {
    const before = fake.requests.length;
    await send(twilio());
    const request = fake.requests[before]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`);
    assert.equal(
      request.headers.authorization,
      `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`,
    );
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.ok(request.authenticated);
    assert.equal(request.form.To, '+14155550123');
    assert.equal(request.form.From, FROM);
    assert.equal(request.form.Body, 'Your code is 123456');
    assert.equal(request.form.MessagingServiceSid, undefined);
    const callback = new URL(request.form.StatusCallback!);
    assert.equal(`${callback.origin}${callback.pathname}`, endpoint.url);
    assert.equal(callback.searchParams.get(TWILIO_REFERENCE_PARAM), '01M83VJ95Z0MCP8CVEJY3VS619');
    const validity = Number(request.form.ValidityPeriod);
    assert.ok(validity > 295 && validity <= 300, `ValidityPeriod ${validity}`);
  });

  test('returns the sid and the segments Twilio counted', async () => {
    const result = await send(twilio());
    assert.match(result.providerMessageId, /^SM[0-9a-f]{32}$/);
    assert.equal(result.providerMessageId, fake.accepted.at(-1)!.sid);
    assert.equal(result.segments, 1);
    assert.equal(result.cost, undefined, 'Twilio prices a message only once it is sent');

    const long = await twilio().send(
      sendRequest({ body: 'Привет! '.repeat(20) }),
      AbortSignal.timeout(5_000),
    );
    assert.equal(long.segments, 3);
  });

  test('lets the Messaging Service pick the sender unless routing names one', async () => {
    const adapter = twilio({ messagingServiceSid: SERVICE_SID, from: undefined });
    await send(adapter);
    let form = fake.requests.at(-1)!.form;
    assert.equal(form.MessagingServiceSid, SERVICE_SID);
    assert.equal(form.From, undefined);
    assert.equal(fake.accepted.at(-1)!.status, 'accepted');

    await adapter.send(sendRequest({ from: 'PIGEON' }), AbortSignal.timeout(5_000));
    form = fake.requests.at(-1)!.form;
    assert.equal(form.MessagingServiceSid, SERVICE_SID);
    assert.equal(form.From, 'PIGEON');
  });

  test('prefers the routed sender over the configured default', async () => {
    await twilio().send(sendRequest({ from: '+15005550001' }), AbortSignal.timeout(5_000));
    assert.equal(fake.requests.at(-1)!.form.From, '+15005550001');
  });

  test('leaves ValidityPeriod to Twilio beyond its 36000-second maximum', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    await twilio().send(sendRequest({ expiresAt }), AbortSignal.timeout(5_000));
    assert.equal(fake.requests.at(-1)!.form.ValidityPeriod, undefined);
    assert.equal(validityPeriodSeconds(new Date(60_000).toISOString(), 0), 60);
    assert.equal(validityPeriodSeconds(new Date(36_000_000).toISOString(), 0), 36_000);
    assert.equal(validityPeriodSeconds(new Date(36_001_000).toISOString(), 0), undefined);
    assert.equal(validityPeriodSeconds(new Date(0).toISOString(), 5_000), 1, 'nearly expired: shortest life');
  });

  test('refuses to send without any sender, before calling Twilio', async () => {
    const before = fake.requests.length;
    await expectProviderError(send(twilio({ from: undefined })), {
      errorClass: 'retryable',
      rawCode: 'NO_SENDER',
      sent: 'no',
    });
    assert.equal(fake.requests.length, before);
  });
});

describe('twilio error mapping', () => {
  const cases: Array<[code: number, errorClass: string]> = [
    [21211, 'permanent'],
    [21614, 'permanent'],
    [21610, 'opted_out'],
    [30007, 'fraud_blocked'],
    [30450, 'fraud_blocked'],
    [21408, 'retryable'],
    [21612, 'retryable'],
    [21611, 'throttled'],
    [20500, 'retryable'],
  ];
  for (const [code, errorClass] of cases) {
    test(`maps Twilio error ${code} to ${errorClass}, keeping the code`, async () => {
      await assertFaultFails(fake, { kind: 'error', code }, () => send(twilio()), {
        errorClass,
        rawCode: String(code),
        sent: 'no',
      });
      assert.equal(TWILIO_ERROR_CLASSES[String(code)], errorClass);
    });
  }

  test('an invalid To number, as Twilio itself rejects it, is permanent', async () => {
    const err = await expectProviderError(
      twilio().send(sendRequest({ to: '+0123' }), AbortSignal.timeout(5_000)),
      { errorClass: 'permanent', rawCode: '21211' },
    );
    assert.match(err.message, /not a valid phone number/);
  });

  test('HTTP 429 (20429) is throttled and carries Retry-After', async () => {
    await fake.setFault({ kind: 'throttle', retryAfterSeconds: 7 });
    const err = await expectProviderError(send(twilio()), {
      errorClass: 'throttled',
      rawCode: '20429',
      retryAfterMs: 7_000,
      sent: 'no',
    });
    assert.ok(err.isProviderFault);
  });

  test('a 5xx without a Twilio body is retryable and certainly not sent', async () => {
    await assertStatusClasses(fake, () => send(twilio()), [[503, 'retryable']]);
  });

  test('wrong credentials (401, 20003) are retryable and never appear in the error', async () => {
    const adapter = twilio({ authToken: 'not-the-token-at-all' });
    await assertBadCredentials(fake, send(adapter), '20003', ['not-the-token-at-all', AUTH_TOKEN]);
  });

  test('our timeout aborts a request Twilio never answers: ambiguous', async () => {
    const request = await assertTimeoutAbortsRequest(fake, (signal) => twilio().send(sendRequest(), signal));
    assert.equal(request.sid, undefined);
  });

  test('a send Twilio took but never answered is ambiguous, and its receipt still finds our message', async () => {
    await fake.setFault({ kind: 'acceptThenHang' });
    await expectProviderError(twilio().send(sendRequest(), AbortSignal.timeout(200)), {
      rawCode: 'TIMEOUT',
      sent: 'maybe',
    });
    const message = fake.accepted.at(-1)!;
    const { posted, result } = await endpoint.receive(() => fake.sendReceipt(message.sid, 'delivered'));
    assert.equal(posted.status, 200);
    const [receipt] = result as ParsedReceipt[];
    assert.equal(receipt!.providerMessageId, message.sid);
    assert.equal(receipt!.reference, '01M83VJ95Z0MCP8CVEJY3VS619');
  });

  test('a refused connection is certainly not sent; clearing the fault serves the same URL again', async () => {
    const result = await assertRefusingFakeNotSent(fake, () => send(twilio()));
    assert.match(result.providerMessageId, /^SM/);
  });
});

describe('twilio signatures', () => {
  // Official vectors: twilio/twilio-node spec/validation.spec.js (reference section 1.4, and the
  // spec's further cases: ports, credentials, special characters, repeated parameters).
  const token = '12345';
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = {
    CallSid: 'CA1234567890ABCDE',
    Caller: '+14158675309',
    Digits: '1234',
    From: '+14158675309',
    To: '+18005551212',
  };

  test('computes the official signatures for each URL form', () => {
    const vectors: Array<[string, string]> = [
      [url, 'RSOYDt4T1cUTdK1PDd93/VVr8B8='],
      ['https://mycompany.com:443/myapp.php?foo=1&bar=2', 'kvajT1Ptam85bY51eRf/AJRuM3w='],
      ['http://mycompany.com:1234/myapp.php?foo=1&bar=2', 'Zmvh+3yNM1Phv2jhDCwEM3q5ebU='],
      ['http://mycompany.com:80/myapp.php?foo=1&bar=2', '0ZXoZLH/DfblKGATFgpif+LLRf4='],
      ['https://user:pass@mycompany.com/myapp.php?foo=1&bar=2', 'CukzLTc1tT5dXEDIHm/tKBanW10='],
      ['https://user@mycompany.com/myapp.php?foo=1&bar=2', '2YRLlVAflCqxaNicjMpJcSTgzSs='],
    ];
    for (const [signedUrl, signature] of vectors) {
      assert.equal(twilioSignature(token, signedUrl, params), signature, signedUrl);
      assert.ok(validTwilioSignature(token, signature, signedUrl, params), signedUrl);
    }
  });

  test('accepts the URL with its port, the default port or no port, as twilio-node does', () => {
    const valid = (signature: string, signedUrl: string) =>
      assert.ok(validTwilioSignature(token, signature, signedUrl, params), `${signature} ${signedUrl}`);
    valid('RSOYDt4T1cUTdK1PDd93/VVr8B8=', 'https://mycompany.com:443/myapp.php?foo=1&bar=2');
    valid('RSOYDt4T1cUTdK1PDd93/VVr8B8=', 'https://mycompany.com:1234/myapp.php?foo=1&bar=2');
    valid('kvajT1Ptam85bY51eRf/AJRuM3w=', url);
    valid('0ZXoZLH/DfblKGATFgpif+LLRf4=', 'http://mycompany.com/myapp.php?foo=1&bar=2');
    valid('ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=', 'https://user:pass@mycompany.com/myapp.php?foo=1&bar=2');
    // A port the URL does not carry is never invented, except the scheme's default.
    assert.ok(
      !validTwilioSignature(
        token,
        'Zmvh+3yNM1Phv2jhDCwEM3q5ebU=',
        'http://mycompany.com/myapp.php?foo=1&bar=2',
        params,
      ),
    );
  });

  test('signs repeated parameters once per distinct value, in any order', () => {
    for (const addresses of [
      ['+1325xxxxxxx', '+1415xxxxxxx'],
      ['+1415xxxxxxx', '+1325xxxxxxx'],
    ]) {
      assert.ok(
        validTwilioSignature(token, '83O6e2vORAoJHUNzJjDWN1jz+BA=', url, {
          'MessagingBinding.Address': addresses,
        }),
      );
    }
    assert.ok(
      validTwilioSignature(token, 'IK+Dwps556ElfBT0I3Rgjkr1wJU=', url, {
        Sid: 'CA123',
        SidAccount: 'AC123',
        Digits: ['5678', '1234', '1234'],
      }),
    );
    assert.ok(
      validTwilioSignature(token, 'dsq4Ehbj6cs+KdTkpF5sSSplOWw=', `${url}&Body=It's+amazing`, params),
    );
  });

  test('rejects a wrong token, a changed parameter and a changed URL', () => {
    const signature = 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';
    assert.ok(!validTwilioSignature('54321', signature, url, params));
    assert.ok(!validTwilioSignature(token, signature, url, { ...params, Digits: '1235' }));
    assert.ok(!validTwilioSignature(token, signature, `${url}&baz=3`, params));
    assert.ok(!validTwilioSignature(token, '', url, params));
  });

  test('computes the official signatures of JSON webhooks (bodySHA256 in the URL)', () => {
    const base = 'https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=';
    assert.equal(
      twilioSignature(token, `${base}0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620`, {}),
      'a9nBmqA0ju/hNViExpshrM61xv4=',
    );
    // The empty-body vector is the signature of the URL with its default port written out.
    assert.ok(
      validTwilioSignature(
        token,
        'Ldidvp12m26NI7eqEvxnEpkd9Hc=',
        `${base}44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`,
        {},
      ),
    );
    assert.equal(
      twilioSignature(
        token,
        'https://mycompany.com/myapp.php?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620',
        {},
      ),
      'y77kIzt2vzLz71DgmJGsen2scGs=',
    );
  });

  test('parses a JSON webhook whose body matches the signed hash, and refuses one that does not', async () => {
    const adapter = createTwilio(
      'twilio-main',
      { accountSid: ACCOUNT_SID, authToken: token, from: FROM },
      deps,
    );
    const body = '{"property": "value", "boolean": true}';
    const request = (rawBody: string): InboundHttpRequest => ({
      method: 'POST',
      url: '/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620',
      fullUrl:
        'https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620',
      headers: { 'content-type': 'application/json', 'x-twilio-signature': 'a9nBmqA0ju/hNViExpshrM61xv4=' },
      rawBody,
    });
    await assert.rejects(adapter.parseReceipt(request(body)), (err: unknown) => {
      // Signature and hash hold; the body just is not a status callback.
      assert.ok(err instanceof PigeonError);
      assert.equal(err.code, 'PIGEON_ERR_VALIDATION');
      return true;
    });
    await assertReceiptRefused(adapter.parseReceipt(request('{"property": "value", "boolean": false}')));
  });
});

describe('twilio status callbacks', () => {
  async function deliver(status: string, options: Parameters<TwilioFake['sendReceipt']>[2] = {}) {
    const { providerMessageId } = await send(twilio());
    const outcome = await endpoint.receive(() => fake.sendReceipt(providerMessageId, status, options));
    return { providerMessageId, ...outcome };
  }

  test('a signed delivered callback becomes a delivered receipt matched to our message', async () => {
    const { providerMessageId, posted, result } = await deliver('delivered');
    assert.equal(posted.status, 200);
    assert.equal(posted.body, '<Response/>');
    assert.deepEqual(
      (result as ParsedReceipt[]).map(({ doneAt: _doneAt, ...rest }) => rest),
      [
        {
          providerMessageId,
          reference: '01M83VJ95Z0MCP8CVEJY3VS619',
          status: 'delivered',
          providerStatus: 'delivered',
        },
      ],
    );
    const doneAt = (result as ParsedReceipt[])[0]!.doneAt!;
    assert.ok(Math.abs(Date.parse(doneAt) - Date.now()) < 120_000, doneAt);
  });

  test('undelivered and failed keep Twilio error code; failed means Twilio rejected it', async () => {
    const undelivered = (await deliver('undelivered', { errorCode: '30005' })).result as ParsedReceipt[];
    assert.equal(undelivered[0]!.status, 'undelivered');
    assert.equal(undelivered[0]!.providerStatus, '30005');
    const failed = (await deliver('failed', { errorCode: '30007' })).result as ParsedReceipt[];
    assert.equal(failed[0]!.status, 'rejected');
    assert.equal(failed[0]!.providerStatus, '30007');
  });

  test('intermediate statuses are no receipt', async () => {
    for (const status of ['queued', 'sending', 'sent', 'accepted']) {
      const { result, posted } = await deliver(status);
      assert.deepEqual(result, [], status);
      assert.equal(posted.status, 200);
    }
  });

  test('a callback signed with another token is refused', async () => {
    assertRefusedOverHttp(await deliver('delivered', { authToken: 'someone-elses-token' }));
  });

  test('a callback changed after signing is refused', async () => {
    assertRefusedOverHttp(await deliver('undelivered', { tamper: true }));
  });

  test('a callback whose reference was changed is refused: the URL is signed', async () => {
    const { providerMessageId } = await send(twilio());
    const callback = fake.callback(providerMessageId, 'delivered');
    const forgedUrl = callback.url.replace('01M83VJ95Z0MCP8CVEJY3VS619', '01M83VJ95Z0MCP8CVEJY3VS620');
    const { pathname, search } = new URL(forgedUrl);
    await assertReceiptRefused(
      twilio().parseReceipt({
        method: 'POST',
        url: `${pathname}${search}`,
        fullUrl: forgedUrl,
        headers: callback.headers,
        rawBody: callback.body,
      }),
    );
  });

  test('a callback without a signature is refused', async () => {
    const { providerMessageId } = await send(twilio());
    const callback = fake.callback(providerMessageId, 'delivered');
    const { 'x-twilio-signature': _signature, ...headers } = callback.headers;
    await assertReceiptRefused(
      twilio().parseReceipt({
        method: 'POST',
        url: '/',
        fullUrl: callback.url,
        headers,
        rawBody: callback.body,
      }),
    );
  });
});

describe('twilio configuration', () => {
  test('is registered as type "twilio"', () => {
    registeredAdapter({
      name: 'tw',
      type: 'twilio',
      options: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN },
    });
  });

  test('names a missing or malformed option without echoing credentials', () => {
    const configError = (options: Record<string, unknown>, pattern: RegExp) =>
      assertConfigError(() => createTwilio('tw', options, deps), pattern, [AUTH_TOKEN]);
    configError({ accountSid: ACCOUNT_SID }, /authToken/);
    configError({ authToken: AUTH_TOKEN }, /accountSid/);
    configError({ accountSid: AUTH_TOKEN, authToken: AUTH_TOKEN }, /accountSid/);
    configError(
      { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, messagingServiceSid: 'MG1' },
      /messagingServiceSid/,
    );
    configError({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, baseUrl: 'not a url' }, /baseUrl/);
  });

  test('answers status callbacks with empty TwiML', () => {
    assert.deepEqual(twilio().receiptAck, { contentType: 'text/xml', body: '<Response/>' });
  });
});
