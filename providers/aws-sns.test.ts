import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  type AwsSmsFake,
  type SnsEnvelope as FakeSnsEnvelope,
  startAwsSmsFake,
} from '../test/fakes/aws-sms-fake.ts';
import { assertReceiptRefused } from '../test/support/provider-testing.ts';
import { DEFAULT_SNS_CERTIFICATE_HOST, parseSnsEnvelope, type SnsTrust, SnsVerifier } from './aws-sns.ts';

let fake: AwsSmsFake;

before(async () => {
  fake = await startAwsSmsFake({
    region: 'eu-west-1',
    accessKeyId: 'AKIAPIGEONTEST000001',
    secretAccessKey: 'pigeon/test+secret',
  });
});
after(async () => {
  await fake.close();
});

/** The fake serves its certificate and SubscribeURL from 127.0.0.1 over plain http. */
const trust: SnsTrust = { certificateHost: /^127\.0\.0\.1$/, allowHttp: true };

/** What the AWS adapter does with a webhook body: parse, verify, and confirm a subscription. */
async function receive(
  snsTrust: SnsTrust,
  envelope: FakeSnsEnvelope | Record<string, unknown>,
): Promise<void> {
  const sns = new SnsVerifier(snsTrust);
  const parsed = parseSnsEnvelope(JSON.stringify(envelope));
  await sns.verify(parsed);
  if (parsed.Type === 'SubscriptionConfirmation') await sns.confirmSubscription(parsed);
}

const refuses = async (snsTrust: SnsTrust, envelope: FakeSnsEnvelope | Record<string, unknown>) =>
  assertReceiptRefused(receive(snsTrust, envelope));

describe('SNS message verification', () => {
  test('a genuine notification and subscription confirmation pass', async () => {
    await receive(trust, fake.notification(JSON.stringify(fake.smsEvent('m-0', 'TEXT_DELIVERED'))));
    const confirmed = fake.confirmations.length;
    await receive(trust, fake.subscriptionConfirmation());
    assert.equal(fake.confirmations.length, confirmed + 1);
  });

  test('a notification altered after signing is refused', async () => {
    const envelope = fake.notification(JSON.stringify(fake.smsEvent('m-3', 'TEXT_BLOCKED')));
    envelope.Message = JSON.stringify(fake.smsEvent('m-3', 'TEXT_DELIVERED'));
    await refuses(trust, envelope);
  });

  test('a notification signed by another key is refused', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const envelope = fake.notification(JSON.stringify(fake.smsEvent('m-4', 'TEXT_DELIVERED')), {
      signingKey: privateKey,
    });
    await refuses(trust, envelope);
  });

  test('a certificate outside the SNS hosts, or over http when not allowed, is never fetched', async () => {
    const envelope = fake.notification(JSON.stringify(fake.smsEvent('m-5', 'TEXT_DELIVERED')));
    const fetches = fake.certificateFetches.length;
    await refuses({ ...trust, certificateHost: DEFAULT_SNS_CERTIFICATE_HOST }, envelope);
    await refuses({ ...trust, allowHttp: false }, envelope);
    assert.equal(fake.certificateFetches.length, fetches);
  });

  test('an unknown SignatureVersion or a raw (unwrapped) event is refused', async () => {
    const envelope = fake.notification(JSON.stringify(fake.smsEvent('m-7', 'TEXT_DELIVERED')));
    await refuses(trust, { ...envelope, SignatureVersion: '3' });
    await refuses(trust, fake.smsEvent('m-7', 'TEXT_DELIVERED'));
  });

  test('a SubscriptionConfirmation with a swapped SubscribeURL is refused and not visited', async () => {
    const envelope = fake.subscriptionConfirmation();
    const confirmed = fake.confirmations.length;
    await refuses(trust, {
      ...envelope,
      SubscribeURL: `${fake.url}/?Action=ConfirmSubscription&Token=evil`,
    });
    assert.equal(fake.confirmations.length, confirmed);
  });
});
