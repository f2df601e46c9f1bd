import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PigeonError } from '../core/errors.ts';
import { testDeps } from '../test/support/provider-testing.ts';
import type { InboundHttpRequest } from './provider.ts';
import { createVonage, vonageSignature } from './vonage.ts';

/** The inbound SMS of Vonage's own signature data set (vonage-node-sdk, signature.ts). */
const OFFICIAL = {
  'message-timestamp': '2013-11-21 15:27:30',
  messageId: '020000001B0FE827',
  msisdn: '14843472194',
  text: 'Test again',
  timestamp: '1385047698',
  to: '13239877404',
  type: 'text',
};
const OFFICIAL_SECRET = 'my_secret_key_for_testing';
const OFFICIAL_SHA256 = 'DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330';

const vonage = (secret: string) =>
  createVonage(
    'vonage-main',
    {
      apiKey: 'abcd1234',
      signatureSecret: secret,
      signatureMethod: 'sha256hmac',
      baseUrl: 'http://127.0.0.1:1',
    },
    testDeps(),
  );

const posted = (params: Record<string, string>, form = true): InboundHttpRequest => ({
  method: 'POST',
  url: '/v1/inbound/vonage-main',
  fullUrl: 'https://pigeon.example.com/v1/inbound/vonage-main',
  headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
  rawBody: form ? new URLSearchParams(params).toString() : JSON.stringify(params),
});

const signatureRefused = (err: unknown) =>
  err instanceof PigeonError && err.code === 'PIGEON_ERR_RECEIPT_SIGNATURE';

describe('vonage inbound SMS', () => {
  test("Vonage's official signed inbound message is accepted and normalised to E.164", async (t) => {
    // Signed webhooks older than five minutes are refused: the clock is set to when it was sent.
    t.mock.timers.enable({ apis: ['Date'], now: Number(OFFICIAL.timestamp) * 1000 + 30_000 });
    const sms = await vonage(OFFICIAL_SECRET).parseInbound!(posted({ ...OFFICIAL, sig: OFFICIAL_SHA256 }));
    assert.deepEqual(sms, [
      { from: '+14843472194', to: '+13239877404', body: 'Test again', providerMessageId: '020000001B0FE827' },
    ]);
  });

  test('a forged, tampered, unsigned or stale message is refused', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Number(OFFICIAL.timestamp) * 1000 + 30_000 });
    const adapter = vonage(OFFICIAL_SECRET);
    await assert.rejects(
      vonage('other').parseInbound!(posted({ ...OFFICIAL, sig: OFFICIAL_SHA256 })),
      signatureRefused,
    );
    await assert.rejects(
      adapter.parseInbound!(posted({ ...OFFICIAL, text: 'STOP', sig: OFFICIAL_SHA256 })),
      signatureRefused,
    );
    await assert.rejects(adapter.parseInbound!(posted(OFFICIAL)), signatureRefused);
    t.mock.timers.setTime(Number(OFFICIAL.timestamp) * 1000 + 10 * 60_000);
    await assert.rejects(
      adapter.parseInbound!(posted({ ...OFFICIAL, sig: OFFICIAL_SHA256 })),
      signatureRefused,
    );
  });

  test('one part of a long SMS carries its concat reference, part and total, as JSON or form', async () => {
    const params: Record<string, string> = {
      msisdn: '447700900001',
      to: '447700900000',
      messageId: '0A0000001234567B',
      text: 'first half, ',
      type: 'text',
      concat: 'true',
      'concat-ref': '108',
      'concat-total': '2',
      'concat-part': '1',
      timestamp: String(Math.floor(Date.now() / 1000)),
    };
    params.sig = vonageSignature(params, 'secret-1', 'sha256hmac');
    for (const form of [true, false]) {
      const [sms] = await vonage('secret-1').parseInbound!(posted(params, form));
      assert.deepEqual(sms?.part, { reference: '108', index: 1, total: 2 });
      assert.equal(sms?.from, '+447700900001');
    }
  });
});
