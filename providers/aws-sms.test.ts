import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { type AwsSmsFake, type SnsEnvelope, startAwsSmsFake } from '../test/fakes/aws-sms-fake.ts';
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
import { AwsSmsProvider, createAwsSms, smsEventStatus } from './aws-sms.ts';
import type { ProviderAdapter, SendRequest } from './provider.ts';
import { createAdapter } from './registry.ts';

const deps = testDeps();
const credentials = {
  region: 'eu-west-1',
  accessKeyId: 'AKIAPIGEONTEST000001',
  secretAccessKey: 'pigeon/test+secret',
};

let fake: AwsSmsFake;
const adapters: ProviderAdapter[] = [];

before(async () => {
  fake = await startAwsSmsFake(credentials);
});
after(async () => {
  for (const adapter of adapters) await adapter.close?.();
  await fake.close();
});

function awsSms(options: Record<string, unknown> = {}): ProviderAdapter {
  const adapter = createAwsSms(
    'aws-main',
    {
      ...credentials,
      endpoint: fake.url,
      originationIdentity: '+12065550152',
      configurationSetName: 'pigeon-events',
      snsCertificateHost: '^127\\.0\\.0\\.1$',
      snsAllowHttp: true,
      ...options,
    },
    deps,
  );
  adapters.push(adapter);
  return adapter;
}

const sendRequest = (overrides: Partial<SendRequest> = {}): SendRequest =>
  testRequest({ callbackUrl: 'http://127.0.0.1:3000/v1/receipts/aws-main', ...overrides });
const send = (adapter: ProviderAdapter) => adapter.send(sendRequest(), AbortSignal.timeout(5_000));
const inbound = (rawBody: string) =>
  inboundRequest('/v1/receipts/aws-main', rawBody, { 'content-type': 'text/plain; charset=UTF-8' });

test('the SDK is loaded on the first send, not with the registry', async () => {
  const loadedSdkModules = () =>
    Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('@aws-sdk'));
  const adapter = createAdapter(
    { name: 'aws-lazy', type: 'aws-sms', options: { ...credentials, endpoint: fake.url } },
    deps,
  );
  adapters.push(adapter);
  assert.deepEqual(loadedSdkModules(), []);
  await send(adapter);
  assert.ok(loadedSdkModules().length > 0);
});

describe('sending', () => {
  test('sends SendTextMessage over SigV4 that the fake verifies and returns the MessageId', async () => {
    const result = await send(awsSms());

    const recorded = fake.requests.at(-1)!;
    assert.equal(recorded.authenticated, true);
    assert.equal(recorded.headers['x-amz-target'], 'PinpointSMSVoiceV2.SendTextMessage');
    assert.equal(recorded.headers['content-type'], 'application/x-amz-json-1.0');
    assert.match(
      String(recorded.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIAPIGEONTEST000001\/\d{8}\/eu-west-1\/sms-voice\/aws4_request,/,
    );
    assert.equal(result.providerMessageId, recorded.messageId);
    const input = recorded.input!;
    assert.equal(input.DestinationPhoneNumber, '+14155550123');
    assert.equal(input.MessageBody, 'Your code is 123456');
    assert.equal(input.MessageType, 'TRANSACTIONAL');
    assert.equal(input.OriginationIdentity, '+12065550152');
    assert.equal(input.ConfigurationSetName, 'pigeon-events');
    assert.deepEqual(input.Context, { messageId: '01M83VJ95Z0MCP8CVEJY3VS619' });
    assert.ok((input.TimeToLive as number) > 290 && (input.TimeToLive as number) <= 300);
  });

  test('sends marketing as PROMOTIONAL from the sender routing chose, with the TTL clamped to 72 h', async () => {
    await awsSms().send(
      sendRequest({
        messageClass: 'marketing',
        from: 'PIGEON',
        expiresAt: new Date(Date.now() + 10 * 86_400_000).toISOString(),
      }),
      AbortSignal.timeout(5_000),
    );
    const input = fake.requests.at(-1)!.input!;
    assert.equal(input.MessageType, 'PROMOTIONAL');
    assert.equal(input.OriginationIdentity, 'PIGEON');
    assert.equal(input.TimeToLive, 259_200);
  });

  test('a wrong secret gets InvalidSignatureException from the fake: retryable, not sent', async () => {
    const adapter = awsSms({ secretAccessKey: 'not-the-secret' });
    await assertBadCredentials(fake, send(adapter), 'InvalidSignatureException', ['not-the-secret']);
  });

  test('an unknown access key gets UnrecognizedClientException: retryable', async () => {
    await expectProviderError(send(awsSms({ accessKeyId: 'AKIAUNKNOWN000000000' })), {
      rawCode: 'UnrecognizedClientException',
      errorClass: 'retryable',
    });
  });

  test('a number AWS rejects is a permanent ValidationException', async () => {
    await expectProviderError(awsSms().send(sendRequest({ to: '+1' }), AbortSignal.timeout(5_000)), {
      rawCode: 'ValidationException:FIELD_VALIDATION_FAILED',
      errorClass: 'permanent',
    });
  });
});

describe('error mapping', () => {
  const cases: Array<[code: string, errorClass: string]> = [
    ['ThrottlingException', 'throttled'],
    ['ServiceQuotaExceededException:MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT', 'retryable'],
    ['ServiceQuotaExceededException:DAILY_DESTINATION_CALL_LIMIT', 'throttled'],
    ['ValidationException:INVALID_PARAMETER', 'permanent'],
    ['ValidationException:DESTINATION_COUNTRY_BLOCKED', 'permanent'],
    ['ValidationException:SENDER_ID_NOT_REGISTERED', 'retryable'],
    ['ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT', 'opted_out'],
    ['ConflictException:DESTINATION_COUNTRY_BLOCKED_BY_PROTECT_CONFIGURATION', 'fraud_blocked'],
    ['ConflictException:RESOURCE_NOT_ACTIVE', 'retryable'],
    ['AccessDeniedException:ACCOUNT_DISABLED', 'retryable'],
    ['ResourceNotFoundException', 'retryable'],
    ['InternalServerException', 'retryable'],
  ];
  for (const [code, errorClass] of cases) {
    test(`${code} is ${errorClass}, not sent, raw code kept`, async () => {
      await assertFaultFails(fake, { kind: 'error', code }, () => send(awsSms()), {
        errorClass,
        rawCode: code,
        sent: 'no',
      });
    });
  }

  test('a 503 without an AWS error body is retryable and a 429 throttled, both not sent', async () => {
    await assertStatusClasses(fake, () => send(awsSms()), [
      [503, 'retryable'],
      [429, 'throttled'],
    ]);
  });

  test('a timeout aborts the request in flight: TIMEOUT, maybe sent', async () => {
    await assertTimeoutAbortsRequest(fake, (signal) => awsSms().send(sendRequest(), signal));
  });

  test('a refused connection was certainly not sent', async () => {
    await assertRefusedPortNotSent((endpoint) => send(awsSms({ endpoint })));
  });
});

describe('receipts over SNS', () => {
  test('a signed TEXT_DELIVERED notification becomes a delivered receipt with our reference', async () => {
    const adapter = awsSms();
    const { providerMessageId } = await send(adapter);
    const endpoint = await receiptEndpoint(adapter, '/v1/receipts/aws-main');
    try {
      const event = fake.smsEvent(providerMessageId, 'TEXT_DELIVERED');
      const answer = await fake.sendReceipt(endpoint.url, event);
      assert.equal(answer.status, 200);
      assert.deepEqual(endpoint.results, [
        [
          {
            providerMessageId,
            reference: '01M83VJ95Z0MCP8CVEJY3VS619',
            status: 'delivered',
            providerStatus: 'TEXT_DELIVERED',
            doneAt: new Date(event.eventTimestamp as number).toISOString(),
          },
        ],
      ]);
    } finally {
      await endpoint.close();
    }
  });

  test('SignatureVersion 1 (SHA1withRSA) verifies too', async () => {
    const envelope = fake.notification(JSON.stringify(fake.smsEvent('m-1', 'TEXT_BLOCKED')), {
      signatureVersion: '1',
    });
    const receipts = await awsSms().parseReceipt(inbound(JSON.stringify(envelope)));
    assert.equal(receipts[0]?.status, 'rejected');
  });

  test('intermediate events settle nothing', async () => {
    const adapter = awsSms();
    for (const eventType of ['TEXT_QUEUED', 'TEXT_PENDING']) {
      const envelope = fake.notification(JSON.stringify(fake.smsEvent('m-2', eventType)));
      assert.deepEqual(await adapter.parseReceipt(inbound(JSON.stringify(envelope))), []);
    }
  });

  test('event types map to receipt statuses', () => {
    const table: Array<[string, unknown, string | undefined]> = [
      ['TEXT_DELIVERED', true, 'delivered'],
      ['TEXT_SUCCESSFUL', true, 'delivered'],
      ['TEXT_SUCCESSFUL', false, undefined],
      ['TEXT_SUCCESSFUL', undefined, undefined],
      ['TEXT_PENDING', true, undefined],
      ['TEXT_QUEUED', undefined, undefined],
      ['TEXT_BLOCKED', true, 'rejected'],
      ['TEXT_CARRIER_BLOCKED', true, 'rejected'],
      ['TEXT_SPAM', true, 'rejected'],
      ['TEXT_PROTECT_BLOCKED', true, 'rejected'],
      ['TEXT_INVALID', true, 'undelivered'],
      ['TEXT_UNREACHABLE', true, 'undelivered'],
      ['TEXT_CARRIER_UNREACHABLE', true, 'undelivered'],
      ['TEXT_CARRIER_UNREACHABLE', false, undefined],
      ['TEXT_UNKNOWN', true, 'undelivered'],
      ['TEXT_TTL_EXPIRED', true, 'expired'],
      ['TEXT_SOMETHING_NEW', true, 'unknown'],
      ['VOICE_COMPLETED', true, undefined],
    ];
    for (const [eventType, isFinal, status] of table) {
      assert.equal(smsEventStatus(eventType, isFinal), status, `${eventType} isFinal=${String(isFinal)}`);
    }
  });

  const refuses = async (adapter: ProviderAdapter, envelope: SnsEnvelope | Record<string, unknown>) =>
    assertReceiptRefused(adapter.parseReceipt(inbound(JSON.stringify(envelope))));

  test('a notification from another topic is refused when topicArn is set', async () => {
    const envelope = fake.notification(JSON.stringify(fake.smsEvent('m-6', 'TEXT_DELIVERED')), {
      topicArn: 'arn:aws:sns:eu-west-1:444455556666:someone-else',
    });
    await refuses(awsSms({ topicArn: fake.topicArn }), envelope);
    assert.equal((await awsSms().parseReceipt(inbound(JSON.stringify(envelope))))[0]?.status, 'delivered');
  });

  test('a signed SubscriptionConfirmation is confirmed by visiting SubscribeURL', async () => {
    const adapter = awsSms({ topicArn: fake.topicArn });
    const endpoint = await receiptEndpoint(adapter, '/v1/receipts/aws-main');
    try {
      const envelope = fake.subscriptionConfirmation();
      const answer = await fake.post(endpoint.url, envelope);
      assert.equal(answer.status, 200);
      assert.deepEqual(endpoint.results, [[]]);
      assert.deepEqual(fake.confirmations, [envelope.Token]);
    } finally {
      await endpoint.close();
    }
  });
});

describe('configuration', () => {
  test('the registry builds it by type', () => {
    const adapter = registeredAdapter({
      name: 'aws-main',
      type: 'aws-sms',
      options: { ...credentials, endpoint: fake.url },
    });
    assert.ok(adapter instanceof AwsSmsProvider);
  });

  test('a missing or bad option is a config error that names it but never a credential', () => {
    assertConfigError(
      () => createAwsSms('aws-main', { region: 'eu-west-1', accessKeyId: 'AKIASECRETID' }, deps),
      /secretAccessKey/,
      ['AKIASECRETID'],
    );
    assert.throws(() => createAwsSms('aws-main', { ...credentials, snsAllowHttp: 'yes' }, deps), {
      code: 'PIGEON_ERR_CONFIG',
    });
    assert.throws(() => createAwsSms('aws-main', { ...credentials, snsCertificateHost: '(' }, deps), {
      code: 'PIGEON_ERR_CONFIG',
    });
  });
});

describe('aws two-way SMS (inbound)', () => {
  /** The inbound message AWS's two-way SMS guide shows, published to the number's SNS topic. */
  const twoWay = {
    originationNumber: '+14255550182',
    destinationNumber: '+12125550101',
    messageKeyword: 'JOIN',
    messageBody: 'STOP',
    inboundMessageId: 'cae173d2-66b9-564c-8309-21f858e9fb84',
    previousPublishedMessageId: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  };

  test('a signed SNS notification of an inbound SMS is normalised', async () => {
    const envelope = fake.notification(JSON.stringify(twoWay));
    assert.deepEqual(await awsSms().parseInbound!(inbound(JSON.stringify(envelope))), [
      {
        from: '+14255550182',
        to: '+12125550101',
        body: 'STOP',
        providerMessageId: 'cae173d2-66b9-564c-8309-21f858e9fb84',
        answersProviderMessageId: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      },
    ]);
  });

  test('a tampered or unsigned notification is refused', async () => {
    const envelope = fake.notification(JSON.stringify(twoWay));
    await assertReceiptRefused(
      awsSms().parseInbound!(
        inbound(
          JSON.stringify({ ...envelope, Message: JSON.stringify({ ...twoWay, messageBody: 'START' }) }),
        ),
      ),
    );
    const { Signature: _signature, ...unsigned } = envelope;
    await assertReceiptRefused(awsSms().parseInbound!(inbound(JSON.stringify(unsigned))));
  });
});
