import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type AliyunFake, startAliyunFake } from '../test/fakes/aliyun-fake.ts';
import {
  assertBadCredentials,
  assertConfigError,
  assertFaultFails,
  assertReceiptRefused,
  assertRefusedOverHttp,
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
import {
  AliyunProvider,
  aliyunErrorClass,
  aliyunPhoneNumber,
  createAliyun,
  percentEncode,
} from './aliyun.ts';
import type { ProviderAdapter, SendRequest } from './provider.ts';

const deps = testDeps();
const credentials = { accessKeyId: 'LTAI5tPigeonTestKey01', accessKeySecret: 'pigeon-aliyun-secret' };
const RECEIPT_TOKEN = 'k3y-for-receipts_0123456789abcdef';

let fake: AliyunFake;

before(async () => {
  fake = await startAliyunFake(credentials);
});
after(() => fake.close());

function aliyun(options: Record<string, unknown> = {}): ProviderAdapter {
  return createAliyun(
    'aliyun-main',
    {
      ...credentials,
      endpoint: fake.url,
      signName: '鸽子科技',
      templateCode: 'SMS_153055065',
      receiptToken: RECEIPT_TOKEN,
      ...options,
    },
    deps,
  );
}

const sendRequest = (overrides: Partial<SendRequest> = {}): SendRequest =>
  testRequest({
    to: '+8613800138000',
    body: '您的验证码是 123456 (5 分钟内有效)*~',
    country: 'CN',
    callbackUrl: 'http://127.0.0.1:3000/v1/receipts/aliyun-main',
    ...overrides,
  });
const send = (adapter: ProviderAdapter) => adapter.send(sendRequest(), AbortSignal.timeout(5_000));
const inbound = (url: string, rawBody: string) => inboundRequest(url, rawBody);

describe('sending', () => {
  test('sends SendSms signed with ACS3-HMAC-SHA256 that the fake verifies and returns the BizId', async () => {
    const result = await send(aliyun());

    const recorded = fake.requests.at(-1)!;
    assert.equal(recorded.authenticated, true);
    assert.equal(recorded.method, 'POST');
    assert.equal(recorded.headers['x-acs-action'], 'SendSms');
    assert.equal(recorded.headers['x-acs-version'], '2017-05-25');
    assert.match(
      String(recorded.headers.authorization),
      /^ACS3-HMAC-SHA256 Credential=LTAI5tPigeonTestKey01,/,
    );
    assert.equal(result.providerMessageId, recorded.bizId);
    assert.deepEqual(recorded.params, {
      PhoneNumbers: '13800138000',
      SignName: '鸽子科技',
      TemplateCode: 'SMS_153055065',
      TemplateParam: JSON.stringify({ content: '您的验证码是 123456 (5 分钟内有效)*~' }),
      OutId: '01M83VJ95Z0MCP8CVEJY3VS619',
    });
  });

  test('international numbers keep their country code, and the template variable is configurable', async () => {
    await aliyun({ templateParam: 'code' }).send(
      sendRequest({ to: '+85291234567', body: '123456' }),
      AbortSignal.timeout(5_000),
    );
    const params = fake.requests.at(-1)!.params;
    assert.equal(params.PhoneNumbers, '85291234567');
    assert.equal(params.TemplateParam, '{"code":"123456"}');
  });

  test('numbers follow Aliyun rules: no +, mainland mobiles without 86', () => {
    assert.equal(aliyunPhoneNumber('+8613800138000'), '13800138000');
    assert.equal(aliyunPhoneNumber('+861065529988'), '861065529988');
    assert.equal(aliyunPhoneNumber('+14155550123'), '14155550123');
    assert.equal(aliyunPhoneNumber('+85291234567'), '85291234567');
  });

  test('percent-encoding is RFC 3986 as Aliyun canonicalises it', () => {
    assert.equal(percentEncode("a b*~!'()+/é"), 'a%20b%2A~%21%27%28%29%2B%2F%C3%A9');
  });

  test("the official SDK's own request passes the same fake, so both sign alike", async () => {
    const sdk = await import('@alicloud/dysmsapi20170525');
    const { Config } = await import('@alicloud/openapi-client');
    // CommonJS default export seen through ESM interop.
    const Client = ((sdk.default as unknown as { default?: typeof sdk.default }).default ??
      sdk.default) as unknown as new (config: unknown) => {
      sendSms(request: InstanceType<typeof sdk.SendSmsRequest>): Promise<{ body?: { code?: string } }>;
    };
    const client = new Client(
      new Config({ ...credentials, endpoint: new URL(fake.url).host, protocol: 'http' }),
    );
    const answer = await client.sendSms(
      new sdk.SendSmsRequest({
        phoneNumbers: '13800138000',
        signName: '鸽子科技',
        templateCode: 'SMS_153055065',
        templateParam: JSON.stringify({ content: 'a b*~' }),
      }),
    );
    assert.equal(answer.body?.code, 'OK');
    assert.equal(fake.requests.at(-1)!.authenticated, true);
  });

  test('a wrong secret gets SignatureDoesNotMatch from the fake: retryable, not sent', async () => {
    const adapter = aliyun({ accessKeySecret: 'not-the-secret' });
    await assertBadCredentials(fake, send(adapter), 'SignatureDoesNotMatch', ['not-the-secret']);
  });

  test('an unknown access key gets InvalidAccessKeyId.NotFound: retryable', async () => {
    await expectProviderError(send(aliyun({ accessKeyId: 'LTAI5tUnknown' })), {
      rawCode: 'InvalidAccessKeyId.NotFound',
      errorClass: 'retryable',
    });
  });

  test('a malformed number is refused by the fake as isv.MOBILE_NUMBER_ILLEGAL: permanent', async () => {
    await expectProviderError(aliyun().send(sendRequest({ to: '+86abc' }), AbortSignal.timeout(5_000)), {
      rawCode: 'isv.MOBILE_NUMBER_ILLEGAL',
      errorClass: 'permanent',
    });
  });
});

describe('error mapping', () => {
  const cases: Array<[code: string, errorClass: string]> = [
    ['isv.BUSINESS_LIMIT_CONTROL', 'throttled'],
    ['isv.DAY_LIMIT_CONTROL', 'throttled'],
    ['Throttling.User', 'throttled'],
    ['isv.MOBILE_NUMBER_ILLEGAL', 'permanent'],
    ['isv.SMS_TEMPLATE_ILLEGAL', 'permanent'],
    ['isv.SMS_SIGNATURE_ILLEGAL', 'permanent'],
    ['isv.TEMPLATE_MISSING_PARAMETERS', 'permanent'],
    ['isv.INVALID_PARAMETERS', 'permanent'],
    ['isv.PARAM_LENGTH_LIMIT', 'permanent'],
    ['isv.BLACK_KEY_CONTROL_LIMIT', 'fraud_blocked'],
    ['isv.AMOUNT_NOT_ENOUGH', 'retryable'],
    ['isv.OUT_OF_SERVICE', 'retryable'],
    ['isp.SYSTEM_ERROR', 'retryable'],
    ['isp.RAM_PERMISSION_DENY', 'retryable'],
    ['ServiceUnavailable', 'retryable'],
  ];
  for (const [code, errorClass] of cases) {
    test(`${code} is ${errorClass}, not sent, raw code kept`, async () => {
      await assertFaultFails(fake, { kind: 'error', code }, () => send(aliyun()), {
        errorClass,
        rawCode: code,
        sent: 'no',
      });
    });
  }

  test('codes the table does not know fall back by family', () => {
    assert.equal(aliyunErrorClass('isv.SOMETHING_NEW'), 'permanent');
    assert.equal(aliyunErrorClass('isp.SOMETHING_NEW'), 'retryable');
    assert.equal(aliyunErrorClass('SomethingElse'), undefined);
  });

  test('a 502 without an Aliyun body is retryable and a 429 throttled, both not sent', async () => {
    await assertStatusClasses(fake, () => send(aliyun()), [
      [502, 'retryable'],
      [429, 'throttled'],
    ]);
  });

  test('a timeout aborts the request in flight: TIMEOUT, maybe sent', async () => {
    await assertTimeoutAbortsRequest(fake, (signal) => aliyun().send(sendRequest(), signal));
  });

  test('a refused connection was certainly not sent', async () => {
    await assertRefusedPortNotSent((endpoint) => send(aliyun({ endpoint })));
  });
});

describe('receipts', () => {
  test('a mainland batch push with the right token becomes receipts, answered as Aliyun expects', async () => {
    const adapter = aliyun();
    await send(adapter);
    const delivered = fake.requests.at(-1)!;
    await adapter.send(sendRequest({ messageId: '01M83VJ95Z0MCP8CVEJY3VS620' }), AbortSignal.timeout(5_000));
    const failed = fake.requests.at(-1)!;
    const endpoint = await receiptEndpoint(adapter, '/v1/receipts/aliyun-main');
    try {
      const reports = [
        fake.mainlandReport(delivered),
        fake.mainlandReport(failed, { success: false, errCode: 'MK:0001' }),
      ];
      const answer = await fake.sendReceipt(`${endpoint.url}?token=${RECEIPT_TOKEN}`, reports);
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body), { code: 0, msg: '接收成功' });
      const doneAt = new Date(`${(reports[0]!.report_time as string).replace(' ', 'T')}+08:00`).toISOString();
      assert.deepEqual(endpoint.results, [
        [
          {
            providerMessageId: delivered.bizId,
            status: 'delivered',
            providerStatus: 'DELIVERED',
            reference: '01M83VJ95Z0MCP8CVEJY3VS619',
            doneAt,
          },
          {
            providerMessageId: failed.bizId,
            status: 'undelivered',
            providerStatus: 'MK:0001',
            reference: '01M83VJ95Z0MCP8CVEJY3VS620',
            doneAt: new Date(`${(reports[1]!.report_time as string).replace(' ', 'T')}+08:00`).toISOString(),
          },
        ],
      ]);
    } finally {
      await endpoint.close();
    }
  });

  test('the international webhook format maps Status 1, 2 and 6', async () => {
    const adapter = aliyun();
    await adapter.send(sendRequest({ to: '+85291234567' }), AbortSignal.timeout(5_000));
    const sent = fake.requests.at(-1)!;
    const reports = [
      fake.internationalReport(sent, '1'),
      fake.internationalReport(sent, '2', 'MOBILE_NOT_ON_SERVICE'),
      fake.internationalReport(sent, '6', 'EXPIRED'),
    ];
    const receipts = await adapter.parseReceipt(
      inbound(`/v1/receipts/aliyun-main?token=${RECEIPT_TOKEN}`, JSON.stringify(reports)),
    );
    assert.deepEqual(
      receipts.map((r) => [r.providerMessageId, r.status, r.providerStatus]),
      [
        [sent.bizId, 'delivered', 'success'],
        [sent.bizId, 'undelivered', 'MOBILE_NOT_ON_SERVICE'],
        [sent.bizId, 'expired', 'EXPIRED'],
      ],
    );
    assert.equal(receipts[0]!.doneAt, new Date(reports[0]!.ReceiveDate as string).toISOString());
  });

  test('a push with a wrong or missing token is refused', async () => {
    const body = JSON.stringify([{ biz_id: '1^0', success: true, err_code: 'DELIVERED' }]);
    const refused = (url: string) => assertReceiptRefused(aliyun().parseReceipt(inbound(url, body)));
    await refused('/v1/receipts/aliyun-main?token=guess');
    await refused(`/v1/receipts/aliyun-main?token=${RECEIPT_TOKEN}x`);
    await refused('/v1/receipts/aliyun-main');
  });

  test('without receiptToken configured every push is refused, over HTTP too', async () => {
    const adapter = aliyun({ receiptToken: undefined });
    await assertReceiptRefused(
      adapter.parseReceipt(
        inbound(`/v1/receipts/aliyun-main?token=${RECEIPT_TOKEN}`, JSON.stringify([{ biz_id: '1^0' }])),
      ),
    );
    const endpoint = await receiptEndpoint(adapter, '/v1/receipts/aliyun-main');
    try {
      const outcome = await endpoint.receive(() => fake.sendReceipt(`${endpoint.url}?token=`, []));
      assertRefusedOverHttp(outcome);
      assert.equal(outcome.posted.body, 'PIGEON_ERR_RECEIPT_SIGNATURE');
    } finally {
      await endpoint.close();
    }
  });
});

describe('configuration', () => {
  test('the registry builds it by type', () => {
    const adapter = registeredAdapter({
      name: 'aliyun-main',
      type: 'aliyun',
      options: { ...credentials, signName: 'S', templateCode: 'SMS_1', receiptToken: RECEIPT_TOKEN },
    });
    assert.ok(adapter instanceof AliyunProvider);
  });

  test('a missing option is a config error that names it but never a credential', () => {
    assertConfigError(
      () => createAliyun('aliyun-main', { ...credentials, signName: 'S' }, deps),
      /templateCode/,
      Object.values(credentials),
    );
  });
});
