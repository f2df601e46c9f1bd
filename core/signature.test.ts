import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { verifyPigeonSignature } from '../test/fakes/callback-receiver.ts';
import { signatureHeader, verifySignatureHeader } from './signature.ts';

const SECRET = 'whsec_5bJkQm0pT1xV2yZ3aB4cD5eF6gH7iJ8kL9mN0oP1qR2';
const BODY = '{"id":"01JN0000000000000000000001","type":"message.delivered","status":"delivered"}';

test('the header is t=<unix seconds>,v1=<hex HMAC-SHA-256 over "<t>.<body>"> keyed with the whole secret', () => {
  const header = signatureHeader(SECRET, BODY, 1_767_225_600.9);
  const expected = createHmac('sha256', SECRET).update(`1767225600.${BODY}`).digest('hex');
  assert.equal(header, `t=1767225600,v1=${expected}`);
});

test("a customer's verifier accepts it, and refuses another body, secret or an old timestamp", () => {
  const now = 1_767_225_600_000;
  const header = signatureHeader(SECRET, BODY, now / 1000);
  assert.equal(verifyPigeonSignature(header, BODY, SECRET, now), true);
  assert.equal(verifyPigeonSignature(header, BODY.replace('delivered', 'failed'), SECRET, now), false);
  assert.equal(verifyPigeonSignature(header, BODY, `${SECRET}x`, now), false);
  assert.equal(verifyPigeonSignature(header, BODY, SECRET, now + 301_000), false, 'replayed 5 min later');
});

test('our own verifier accepts a fresh signature, any of several v1 values, and nothing else', () => {
  const now = 1_767_225_600_000;
  const header = signatureHeader(SECRET, BODY, now / 1000);
  assert.equal(verifySignatureHeader(SECRET, header, BODY, now + 299_000), true);
  assert.equal(verifySignatureHeader(SECRET, header, BODY, now + 301_000), false, 'too old');
  assert.equal(verifySignatureHeader(SECRET, header, `${BODY} `, now), false, 'another body');
  assert.equal(verifySignatureHeader('whsec_other', header, BODY, now), false, 'another secret');
  assert.equal(verifySignatureHeader(SECRET, undefined, BODY, now), false);
  const rotated = `${signatureHeader('whsec_old', BODY, now / 1000)},v1=${header.split('v1=')[1]!}`;
  assert.equal(verifySignatureHeader(SECRET, rotated, BODY, now), true, 'one of two secrets during rotation');
});
