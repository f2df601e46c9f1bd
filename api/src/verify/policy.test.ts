import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from '../../../core/errors.ts';
import {
  checkDestination,
  clientKey,
  estimatedCostMicros,
  MAX_SENDS,
  nextSendAt,
  numberRange,
  utcDay,
} from './policy.ts';

const ALLOWED = new Set(['US', 'CA', 'GB', 'CN', 'DE', 'FR']);

const refusal = (code: string, pattern?: RegExp) => (err: unknown) => {
  assert.ok(isPigeonError(err), String(err));
  assert.equal(err.code, code);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

test('mobile and geographic numbers of allowed countries pass, with their country', () => {
  assert.deepEqual(checkDestination('+14155550123', ALLOWED), {
    e164: '+14155550123',
    country: 'US',
    type: 'FIXED_LINE_OR_MOBILE',
  });
  assert.equal(checkDestination('+8613812345678', ALLOWED).type, 'MOBILE');
  assert.equal(checkDestination('+33612345678', ALLOWED).country, 'FR');
});

test('a country off the allowlist is refused with an error naming the setting', () => {
  assert.throws(
    () => checkDestination('+819012345678', ALLOWED),
    refusal('PIGEON_ERR_COUNTRY_NOT_ALLOWED', /JP.*PIGEON_OTP_ALLOWED_COUNTRIES/),
  );
});

test('VoIP, premium-rate and personal numbers are refused where libphonenumber can tell', () => {
  assert.throws(
    () => checkDestination('+445631231234', ALLOWED),
    refusal('PIGEON_ERR_NUMBER_TYPE_REFUSED', /voip/),
  );
  assert.throws(
    () => checkDestination('+449098790879', ALLOWED),
    refusal('PIGEON_ERR_NUMBER_TYPE_REFUSED', /premium rate/),
  );
  assert.throws(
    () => checkDestination('+447012345678', ALLOWED),
    refusal('PIGEON_ERR_NUMBER_TYPE_REFUSED', /personal/),
  );
});

test('malformed and invalid numbers are invalid, not refused by policy', () => {
  for (const to of ['4155550123', '+1415555012', '+10005550123', '+1 415 555 0123']) {
    assert.throws(() => checkDestination(to, ALLOWED), refusal('PIGEON_ERR_INVALID_NUMBER'));
  }
});

test('a number range is the number less its last three digits', () => {
  assert.equal(numberRange('+14155550123'), '+14155550');
  assert.equal(numberRange('+14155550999'), numberRange('+14155550000'));
  assert.notEqual(numberRange('+14155551000'), numberRange('+14155550999'));
});

test('client addresses count by IPv4 address or IPv6 /64', () => {
  assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
});

test('re-sends wait 30 s, 60 s, 120 s, 240 s, and stop after five sends', () => {
  const t = 1_000_000;
  assert.equal(nextSendAt(1, t, t + 29_999), t + 30_000);
  assert.equal(nextSendAt(1, t, t + 30_000), undefined);
  assert.equal(nextSendAt(2, t, t + 59_999), t + 60_000);
  assert.equal(nextSendAt(3, t, t + 120_000), undefined);
  assert.equal(nextSendAt(4, t, t + 239_999), t + 240_000);
  assert.equal(nextSendAt(MAX_SENDS, t, t + 10_000_000), 'limit');
});

test('spend is counted in integer millionths; the UTC day ends at midnight', () => {
  assert.equal(estimatedCostMicros(2, 0.0475), 95_000);
  const now = Date.parse('2026-03-04T23:59:59.000Z');
  assert.deepEqual(utcDay(now), { day: '2026-03-04', msLeft: 1000 });
});
