import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startTencentFake, type TencentFake } from '../test/fakes/tencent-fake.ts';
import {
  assertBadCredentials,
  assertConfigError,
  assertFaultFails,
  assertReceiptRefused,
  assertRefusedPortNotSent,
  assertStatusClasses,
  assertTimeoutAbortsRequest,
  expectProviderError,
  inboundRequest,
  receiptEndpoint,
  registeredAdapter,
  sendRequest as testRequest,
  testDeps,
} from '../test/support/provider-testing.ts';
import type { ProviderAdapter, SendRequest } from './provider.ts';
import { createTencent, tc3Sign, TencentProvider, tencentErrorClass } from './tencent.ts';

const deps = testDeps();
const credentials = { secretId: 'AKIDPigeonTestSecretId0001', secretKey: 'pigeon-tencent-secret-key' };
const SDK_APP_ID = '1400006666';
const RECEIPT_TOKEN = 'tencent-receipts_0123456789abcdef';

let fake: TencentFake;

before(async () => {
  fake = await startTencentFake({ ...credentials, smsSdkAppId: SDK_APP_ID });
});
after(() => fake.close());

function tencent(options: Record<string, unknown> = {}): ProviderAdapter {
  return createTencent(
    'tencent-main',
    {
      ...credentials,
      endpoint: fake.url,
      region: 'ap-guangzhou',
      smsSdkAppId: SDK_APP_ID,
      signName: '鸽子科技',
      templateId: '1234',
      receiptToken: RECEIPT_TOKEN,
      ...options,
    },
    deps,
  );
}

const sendRequest = (overrides: Partial<SendRequest> = {}): SendRequest =>
  testRequest({
    to: '+8613800138000',
    body: '123456',
    country: 'CN',
    callbackUrl: 'http://127.0.0.1:3000/v1/receipts/tencent-main',
    ...overrides,
  });
const send = (adapter: ProviderAdapter) => adapter.send(sendRequest(), AbortSignal.timeout(5_000));
const inbound = (url: string, rawBody: string) => inboundRequest(url, rawBody);

describe('TC3-HMAC-SHA256', () => {
  // Tencent Cloud's "Signature v3" worked example (PROVIDER-REFERENCE.md 5.1). The payload is the
  // literal text with \u escapes, as json.dumps wrote it.
  const example = {
    secretId: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
    secretKey: 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE',
    service: 'cvm',
    host: 'cvm.tencentcloudapi.com',
    contentType: 'application/json; charset=utf-8',
    timestamp: 1551113065,
    payload: String.raw`{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`,
  };

  test('reproduces the official worked example step by step', () => {
    const signed = tc3Sign(example);
    assert.equal(signed.hashedPayload, '35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064');
    assert.equal(
      signed.canonicalRequest,
      'POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064',
    );
    assert.equal(
      createHash('sha256').update(signed.canonicalRequest).digest('hex'),
      '5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031',
    );
    assert.equal(
      signed.stringToSign,
      'TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031',
    );
    assert.equal(signed.signature, '72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168');
    assert.equal(
      signed.authorization,
      'TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168',
    );
  });

  test('reproduces the newer documentation with the masked key', () => {
    const signed = tc3Sign({ ...example, secretKey: 'Gu5t9xGARNpq86cd98joQYCN3*******' });
    assert.equal(signed.signature, '2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c');
  });
});

describe('sending', () => {
  test('sends SendSms signed with TC3 that the fake verifies and returns the SerialNo and Fee', async () => {
    const result = await send(tencent());

    const recorded = fake.requests.at(-1)!;
    assert.equal(recorded.authenticated, true);
    assert.equal(recorded.headers['x-tc-action'], 'SendSms');
    assert.equal(recorded.headers['x-tc-version'], '2021-01-11');
    assert.equal(recorded.headers['x-tc-region'], 'ap-guangzhou');
    assert.match(
      String(recorded.headers.authorization),
      /Credential=AKIDPigeonTestSecretId0001\/\d{4}-\d{2}-\d{2}\/sms\//,
    );
    assert.deepEqual(recorded.input, {
      PhoneNumberSet: ['+8613800138000'],
      SmsSdkAppId: SDK_APP_ID,
      SignName: '鸽子科技',
      TemplateId: '1234',
      TemplateParamSet: ['123456'],
      SessionContext: '01M83VJ95Z0MCP8CVEJY3VS619',
    });
    assert.deepEqual(result, { providerMessageId: recorded.serialNos['+8613800138000'], segments: 1 });
  });

  test('international sends carry the sender id; templateParams none sends no parameters', async () => {
    const result = await tencent({ templateParams: 'none', senderId: 'PIGEON' }).send(
      sendRequest({ to: '+14155550123', body: 'x'.repeat(150) }),
      AbortSignal.timeout(5_000),
    );
    const input = fake.requests.at(-1)!.input!;
    assert.equal(input.SenderId, 'PIGEON');
    assert.deepEqual(input.TemplateParamSet, []);
    assert.equal(result.segments, 1);
    await tencent().send(
      sendRequest({ to: '+14155550123', from: 'ROUTED', body: 'y'.repeat(150) }),
      AbortSignal.timeout(5_000),
    );
    assert.equal(fake.requests.at(-1)!.input!.SenderId, 'ROUTED');
  });

  test('Fee becomes the billed segment count', async () => {
    const result = await tencent().send(sendRequest({ body: '验'.repeat(140) }), AbortSignal.timeout(5_000));
    assert.equal(result.segments, 3);
  });

  test('a wrong secret gets AuthFailure.SignatureFailure from the fake: retryable, not sent', async () => {
    const adapter = tencent({ secretKey: 'not-the-secret' });
    await assertBadCredentials(fake, send(adapter), 'AuthFailure.SignatureFailure', ['not-the-secret']);
  });

  test('an unknown SecretId gets AuthFailure.SecretIdNotFound: retryable', async () => {
    await expectProviderError(send(tencent({ secretId: 'AKIDUnknown' })), {
      rawCode: 'AuthFailure.SecretIdNotFound',
      errorClass: 'retryable',
    });
  });

  test('a number Tencent cannot parse is a permanent per-number IncorrectPhoneNumber', async () => {
    await expectProviderError(tencent().send(sendRequest({ to: '+1' }), AbortSignal.timeout(5_000)), {
      rawCode: 'InvalidParameterValue.IncorrectPhoneNumber',
      errorClass: 'permanent',
    });
  });
});

describe('error mapping', () => {
  const perNumber: Array<[string, string]> = [
    ['LimitExceeded.PhoneNumberDailyLimit', 'throttled'],
    ['LimitExceeded.PhoneNumberThirtySecondLimit', 'throttled'],
    ['LimitExceeded.PhoneNumberOneHourLimit', 'throttled'],
    ['InvalidParameterValue.IncorrectPhoneNumber', 'permanent'],
    ['FailedOperation.PhoneNumberInBlacklist', 'opted_out'],
    ['FailedOperation.ContainSensitiveWord', 'fraud_blocked'],
    ['FailedOperation.InsufficientBalanceInSmsPackage', 'retryable'],
  ];
  for (const [code, errorClass] of perNumber) {
    test(`per-number ${code} is ${errorClass}, not sent, raw code kept`, async () => {
      await assertFaultFails(fake, { kind: 'error', code, perNumber: true }, () => send(tencent()), {
        errorClass,
        rawCode: code,
        sent: 'no',
      });
    });
  }

  const wholeRequest: Array<[string, string]> = [
    ['FailedOperation.TemplateIncorrectOrUnapproved', 'permanent'],
    ['FailedOperation.SignatureIncorrectOrUnapproved', 'permanent'],
    ['FailedOperation.InsufficientBalanceInSmsPackage', 'retryable'],
    ['InternalError.Timeout', 'retryable'],
    ['InternalError.SendAndRecvFail', 'retryable'],
    ['AuthFailure.SignatureExpire', 'retryable'],
    ['UnauthorizedOperation.SmsSdkAppIdVerifyFail', 'retryable'],
    ['LimitExceeded.AppDailyLimit', 'throttled'],
    ['RequestLimitExceeded', 'throttled'],
  ];
  for (const [code, errorClass] of wholeRequest) {
    test(`Response.Error ${code} is ${errorClass}, not sent, raw code kept`, async () => {
      await assertFaultFails(fake, { kind: 'error', code }, () => send(tencent()), {
        errorClass,
        rawCode: code,
        sent: 'no',
      });
    });
  }

  test('codes the table does not know fall back by family', () => {
    assert.equal(tencentErrorClass('LimitExceeded.SomethingNew'), 'throttled');
    assert.equal(tencentErrorClass('InvalidParameterValue.SomethingNew'), 'permanent');
    assert.equal(tencentErrorClass('FailedOperation.OtherError'), 'retryable');
    assert.equal(tencentErrorClass('LimitExceeded.AppCountryOrRegionInBlacklist'), 'retryable');
  });

  test('a 502 is retryable and a 429 throttled, both not sent', async () => {
    await assertStatusClasses(fake, () => send(tencent()), [
      [502, 'retryable'],
      [429, 'throttled'],
    ]);
  });

  test('a timeout aborts the request in flight: TIMEOUT, maybe sent', async () => {
    await assertTimeoutAbortsRequest(fake, (signal) => tencent().send(sendRequest(), signal));
  });

  test('a refused connection was certainly not sent', async () => {
    await assertRefusedPortNotSent((endpoint) => send(tencent({ endpoint })));
  });
});

describe('status callbacks', () => {
  test('a callback with the right token becomes receipts, answered as Tencent expects', async () => {
    const adapter = tencent();
    const { providerMessageId } = await send(adapter);
    const endpoint = await receiptEndpoint(adapter, '/v1/receipts/tencent-main');
    try {
      const reports = [
        fake.statusReport(providerMessageId, '+8613800138000', true),
        fake.statusReport(providerMessageId, '+8613800138000', false, 'MK:0005'),
      ];
      const answer = await fake.sendReceipt(`${endpoint.url}?token=${RECEIPT_TOKEN}`, reports);
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body), { result: 0, errmsg: 'OK' });
      const doneAt = new Date(
        `${(reports[0]!.user_receive_time as string).replace(' ', 'T')}+08:00`,
      ).toISOString();
      assert.deepEqual(endpoint.results, [
        [
          { providerMessageId, status: 'delivered', providerStatus: 'DELIVRD', doneAt },
          { providerMessageId, status: 'undelivered', providerStatus: 'MK:0005', doneAt },
        ],
      ]);
    } finally {
      await endpoint.close();
    }
  });

  test('a callback with a wrong or missing token is refused', async () => {
    const body = JSON.stringify([fake.statusReport('2433:1', '+8613800138000', true)]);
    await assertReceiptRefused(
      tencent().parseReceipt(inbound('/v1/receipts/tencent-main?token=guess', body)),
    );
    await assertReceiptRefused(tencent().parseReceipt(inbound('/v1/receipts/tencent-main', body)));
  });

  test('without receiptToken configured every callback is refused', async () => {
    const body = JSON.stringify([fake.statusReport('2433:1', '+8613800138000', true)]);
    await assertReceiptRefused(
      tencent({ receiptToken: undefined }).parseReceipt(
        inbound(`/v1/receipts/tencent-main?token=${RECEIPT_TOKEN}`, body),
      ),
    );
  });
});

describe('configuration', () => {
  test('the registry builds it by type', () => {
    const adapter = registeredAdapter({
      name: 'tencent-main',
      type: 'tencent',
      options: { ...credentials, smsSdkAppId: SDK_APP_ID, signName: 'S', templateId: '1', receiptToken: 'x' },
    });
    assert.ok(adapter instanceof TencentProvider);
  });

  test('a missing or bad option is a config error that names it but never a credential', () => {
    assertConfigError(
      () => createTencent('tencent-main', { ...credentials, signName: 'S', templateId: '1' }, deps),
      /smsSdkAppId/,
      Object.values(credentials),
    );
    assert.throws(
      () =>
        createTencent(
          'tencent-main',
          { ...credentials, smsSdkAppId: '1', signName: 'S', templateId: '1', templateParams: 'all' },
          deps,
        ),
      { code: 'PIGEON_ERR_CONFIG' },
    );
  });
});
