import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from '../../../core/errors.ts';
import { checkDestination, numberRange } from './destination.ts';

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

test('a US 900 number is premium rate and refused', () => {
  assert.throws(
    () => checkDestination('+19005550123', ALLOWED),
    refusal('PIGEON_ERR_NUMBER_TYPE_REFUSED', /premium rate/),
  );
});
