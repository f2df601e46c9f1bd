import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generate } from 'otplib';
import { newTotpSecret, totpStep, totpUri } from './totp.ts';

test('a new secret is 160 random bits in base32, and the URI is what authenticator apps scan', () => {
  const secret = newTotpSecret();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.notEqual(newTotpSecret(), secret);
  const uri = new URL(totpUri(secret, 'Acme Bank', '+14155550123'));
  assert.equal(uri.protocol, 'otpauth:');
  assert.equal(uri.host, 'totp');
  assert.equal(uri.searchParams.get('secret'), secret);
  assert.equal(uri.searchParams.get('issuer'), 'Acme Bank');
  // The defaults every app assumes (6 digits, 30 s), which otplib leaves out of the URI.
  assert.equal(uri.searchParams.get('digits') ?? '6', '6');
  assert.equal(uri.searchParams.get('period') ?? '30', '30');
  assert.equal(uri.searchParams.get('algorithm') ?? 'SHA1', 'SHA1');
});

test('a code is valid in its own step and one either side, and reports its step', async () => {
  const secret = newTotpSecret();
  const now = Date.parse('2026-01-01T00:00:15Z');
  const step = Math.floor(now / 30_000);
  const code = await generate({ secret, epoch: now / 1000 });
  assert.equal(await totpStep(secret, code, now), step);
  assert.equal(await totpStep(secret, code, now + 30_000), step);
  assert.equal(await totpStep(secret, code, now - 30_000), step);
  assert.equal(await totpStep(secret, code, now + 90_000), undefined);
  assert.equal(await totpStep(secret, code === '000000' ? '000001' : '000000', now), undefined);
  assert.equal(await totpStep(secret, '12345', now), undefined);
});
