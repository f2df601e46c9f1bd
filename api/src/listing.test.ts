import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from '../../core/errors.ts';
import { decodeCursor, encodeCursor, parseInstant, parseLimit, toCsv } from './listing.ts';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return isPigeonError(err) ? err.code : 'not a PigeonError';
  }
  return 'no error';
};

test('instants: ISO 8601 dates are midnight UTC, date-times need a zone', () => {
  assert.equal(parseInstant('since', '2026-01-31'), Date.parse('2026-01-31T00:00:00Z'));
  assert.equal(parseInstant('since', '2026-01-31T12:30:00Z'), Date.parse('2026-01-31T12:30:00Z'));
  assert.equal(
    parseInstant('since', '2026-01-31T12:30:00.123+02:00'),
    Date.parse('2026-01-31T10:30:00.123Z'),
  );
  for (const bad of [
    '2026-01-31T12:30:00',
    '2026-02-30',
    '31/01/2026',
    '1767225600',
    'yesterday',
    '2026-13-01',
  ]) {
    assert.equal(
      code(() => parseInstant('since', bad)),
      'PIGEON_ERR_VALIDATION',
      bad,
    );
  }
});

test('limit: 1 to 1000, 100 by default', () => {
  assert.equal(parseLimit(undefined), 100);
  assert.equal(parseLimit('1'), 1);
  assert.equal(parseLimit('1000'), 1000);
  for (const bad of ['0', '1001', '-1', '1.5', 'ten', '']) {
    assert.equal(
      code(() => parseLimit(bad)),
      'PIGEON_ERR_VALIDATION',
      bad,
    );
  }
});

test('a cursor is opaque, and valid only with the filters it was made for', () => {
  const filter = { status: 'failed' as const, since: 1_767_225_600_000 };
  const cursor = encodeCursor('01JN00000000000000000000AB', filter);
  assert.match(cursor, /^[\w-]+$/);
  assert.equal(decodeCursor(cursor, { ...filter }), '01JN00000000000000000000AB');
  assert.equal(
    code(() => decodeCursor(cursor, { status: 'delivered' })),
    'PIGEON_ERR_INVALID_CURSOR',
  );
  assert.equal(
    code(() => decodeCursor(cursor, {})),
    'PIGEON_ERR_INVALID_CURSOR',
  );
  assert.equal(
    code(() => decodeCursor('not-a-cursor', filter)),
    'PIGEON_ERR_INVALID_CURSOR',
  );
  assert.equal(
    code(() => decodeCursor(cursor.slice(0, -3), filter)),
    'PIGEON_ERR_INVALID_CURSOR',
  );
});

test('CSV follows RFC 4180: quoted when needed, quotes doubled, CRLF', () => {
  assert.equal(
    toCsv([
      ['provider', 'messages', 'cost'],
      ['acme', 2, 0.0125],
      ['a "quoted", name', 1, 0],
      [null, 3, 0],
      ['line\nbreak', 1, 1],
    ]),
    'provider,messages,cost\r\nacme,2,0.0125\r\n"a ""quoted"", name",1,0\r\n,3,0\r\n"line\nbreak",1,1\r\n',
  );
});
