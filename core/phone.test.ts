import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from './errors.ts';
import { maskPhone, parseE164, requireE164, requirePhoneNumber } from './phone.ts';

const NOT_E164 = ['', '4155550123', '+1 415 555 0123', '+1415555012', '+10005550123', '+999999999999'];

test('a valid E.164 number parses to itself and its country', () => {
  assert.deepEqual(parseE164('+14155550123'), { e164: '+14155550123', country: 'US' });
  assert.deepEqual(requireE164('+447400123456', 'to'), { e164: '+447400123456', country: 'GB' });
  assert.equal(requirePhoneNumber('+447400123456', 'to').getType(), 'MOBILE');
});

test('anything else parses to nothing', () => {
  for (const input of NOT_E164) assert.equal(parseE164(input), undefined, input);
});

test('requireE164 refuses anything else with PIGEON_ERR_INVALID_NUMBER naming the field', () => {
  for (const input of NOT_E164) {
    for (const field of ['to', 'from']) {
      assert.throws(
        () => requireE164(input, field),
        (err: unknown) => {
          assert.ok(isPigeonError(err));
          assert.equal(err.code, 'PIGEON_ERR_INVALID_NUMBER');
          assert.equal(err.status, 400);
          assert.equal(err.message, `"${field}" must be a valid E.164 number such as +14155550123`);
          assert.deepEqual(err.errors, [{ field: `/${field}`, message: 'not a valid E.164 phone number' }]);
          return true;
        },
        `${field}=${JSON.stringify(input)}`,
      );
    }
  }
});

test('requirePhoneNumber refuses as requireE164 does', () => {
  assert.throws(
    () => requirePhoneNumber('+10005550123', 'to'),
    (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_INVALID_NUMBER',
  );
});

test('a masked number keeps its head and last two digits only', () => {
  assert.equal(maskPhone('+14155550123'), '+1415*****23');
  assert.equal(maskPhone('+12345'), '******');
});

test('a number parsed again answers as the first time, valid or not', () => {
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(parseE164('+14155550123'), { e164: '+14155550123', country: 'US' });
    assert.equal(requirePhoneNumber('+447400123456', 'from').getType(), 'MOBILE');
    assert.equal(parseE164('+10005550123'), undefined);
    assert.throws(
      () => requireE164('+10005550123', 'to'),
      (err: unknown) => isPigeonError(err),
    );
  }
});
