import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from './errors.ts';
import { parseSenderId, requireSenderId } from './sender-id.ts';

test('alphanumeric sender ids: 1–11 GSM-safe characters with at least one letter', () => {
  for (const id of [
    'A',
    'Pigeon',
    'ACME Bank',
    'acme-bank',
    'Acme.co.uk',
    'my_shop',
    'Elevenchars',
    'Shop24',
  ]) {
    assert.deepEqual(parseSenderId(id), { value: id, kind: 'alphanumeric' }, id);
  }
});

test('control characters, markup, punctuation, spaces at the ends and over-long ids are refused', () => {
  for (const id of [
    'Pigeon\r\n',
    'Pig\neon',
    'Pig\0eon',
    'Pig\teon',
    '<script>',
    'A&B',
    'Bank"',
    "O'Brien",
    'Pigeon!',
    ' Pigeon',
    'Pigeon ',
    'ACME  Bank',
    'TwelveChars1',
    'Café',
    'ПИГЕОН',
    '-Pigeon',
    '',
  ]) {
    assert.equal(parseSenderId(id), undefined, JSON.stringify(id));
  }
});

test('numbers: E.164 numbers that are valid, and short codes of 3 to 8 digits', () => {
  assert.deepEqual(parseSenderId('+447400123456'), { value: '+447400123456', kind: 'number' });
  assert.deepEqual(parseSenderId('+14155550100'), { value: '+14155550100', kind: 'number' });
  assert.deepEqual(parseSenderId('123'), { value: '123', kind: 'short_code' });
  assert.deepEqual(parseSenderId('12345678'), { value: '12345678', kind: 'short_code' });
  for (const id of ['12', '123456789', '447400123456', '+1234', '+44 7400 123456', '+999999999999']) {
    assert.equal(parseSenderId(id), undefined, id);
  }
});

test('a refusal is PIGEON_ERR_INVALID_SENDER naming the field', () => {
  assert.throws(
    () => requireSenderId('Bad\r\nId', 'from'),
    (err) =>
      isPigeonError(err) &&
      err.code === 'PIGEON_ERR_INVALID_SENDER' &&
      err.status === 400 &&
      err.errors?.[0]?.field === '/from',
  );
});
