import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PigeonError } from '../core/errors.ts';
import { signTwilio } from '../test/fakes/twilio-fake.ts';
import { testDeps } from '../test/support/provider-testing.ts';
import type { InboundHttpRequest } from './provider.ts';
import { createTwilio } from './twilio.ts';

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'pigeon-twilio-auth-token-0001';
const URL = 'https://pigeon.example.com/v1/inbound/twilio-main';

const twilio = () =>
  createTwilio(
    'twilio-main',
    { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, baseUrl: 'http://127.0.0.1:1', from: '+15005550006' },
    testDeps(),
  );

/** An incoming-message webhook as Twilio posts it, signed with `token`. */
function incoming(params: Record<string, string>, token = AUTH_TOKEN): InboundHttpRequest {
  return {
    method: 'POST',
    url: '/v1/inbound/twilio-main',
    fullUrl: URL,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': signTwilio(token, URL, params),
    },
    rawBody: new URLSearchParams(params).toString(),
  };
}

const params = {
  MessageSid: `SM${'ab'.repeat(16)}`,
  AccountSid: ACCOUNT_SID,
  From: '+447400123456',
  To: '+15005550006',
  Body: 'ACK 4821',
  NumMedia: '0',
};

const signatureRefused = (err: unknown) =>
  err instanceof PigeonError && err.code === 'PIGEON_ERR_RECEIPT_SIGNATURE';

describe('twilio inbound SMS', () => {
  test('a signed incoming message is normalised', async () => {
    assert.deepEqual(await twilio().parseInbound!(incoming(params)), [
      { from: '+447400123456', to: '+15005550006', body: 'ACK 4821', providerMessageId: params.MessageSid },
    ]);
  });

  test('a forged, tampered or unsigned message is refused', async () => {
    await assert.rejects(twilio().parseInbound!(incoming(params, 'not-the-token')), signatureRefused);
    const tampered = incoming(params);
    tampered.rawBody = new URLSearchParams({ ...params, Body: 'ACK 9999' }).toString();
    await assert.rejects(twilio().parseInbound!(tampered), signatureRefused);
    const unsigned = incoming(params);
    delete unsigned.headers['x-twilio-signature'];
    await assert.rejects(twilio().parseInbound!(unsigned), signatureRefused);
  });

  test('a signed message without From is a validation error', async () => {
    const { From: _from, ...rest } = params;
    await assert.rejects(
      twilio().parseInbound!(incoming(rest)),
      (err: unknown) => err instanceof PigeonError && err.code === 'PIGEON_ERR_VALIDATION',
    );
  });

  test("the official vector of Twilio's SDK verifies: a signed call webhook passes the check and is refused only as no SMS", async () => {
    const official = createTwilio(
      'twilio-main',
      { accountSid: ACCOUNT_SID, authToken: '12345', baseUrl: 'http://127.0.0.1:1', from: '+15005550006' },
      testDeps(),
    );
    const params = {
      CallSid: 'CA1234567890ABCDE',
      Caller: '+14158675309',
      Digits: '1234',
      From: '+14158675309',
      To: '+18005551212',
    };
    const request = (signature: string): InboundHttpRequest => ({
      method: 'POST',
      url: '/myapp.php?foo=1&bar=2',
      fullUrl: 'https://mycompany.com/myapp.php?foo=1&bar=2',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      rawBody: new URLSearchParams(params).toString(),
    });
    await assert.rejects(
      official.parseInbound!(request('RSOYDt4T1cUTdK1PDd93/VVr8B8=')),
      (err: unknown) => err instanceof PigeonError && err.code === 'PIGEON_ERR_VALIDATION',
    );
    await assert.rejects(official.parseInbound!(request('RSOYDt4T1cUTdK1PDd93/VVr8B9=')), signatureRefused);
  });
});
