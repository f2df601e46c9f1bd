import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IsDateTime } from 'typebox/format';
import { isDateTime } from './date-time-format.ts';
import { decodeEvent, EventDecodeError } from './events.ts';

/** Strings shaped like toISOString() output, with any character possibly out of place. */
const isoLike = fc
  .tuple(
    fc.date({
      min: new Date('0000-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    }),
    fc.array(fc.tuple(fc.nat(23), fc.constantFrom(...'0123456789-:.TZtz+ []/x')), { maxLength: 2 }),
  )
  .map(([date, edits]) => {
    const chars = [...date.toISOString()];
    for (const [at, char] of edits) chars[at] = char;
    return chars.join('');
  });

/** Calendar fields in range or just past it, so month lengths, leap years and leap seconds are hit. */
const fields = fc
  .tuple(
    fc.integer({ min: 0, max: 9999 }),
    fc.integer({ min: 0, max: 13 }),
    fc.integer({ min: 0, max: 32 }),
    fc.integer({ min: 0, max: 24 }),
    fc.integer({ min: 0, max: 60 }),
    fc.integer({ min: 0, max: 61 }),
  )
  .map(([y, mo, d, h, mi, s]) => {
    const two = (n: number) => String(n).padStart(2, '0');
    return `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}T${two(h)}:${two(mi)}:${two(s)}.123Z`;
  });

describe('date-time format', () => {
  it('decides every string as typebox’s own check does', () => {
    fc.assert(
      fc.property(fc.oneof(isoLike, fields, fc.string()), (value) => {
        assert.equal(isDateTime(value), IsDateTime(value), value);
      }),
      { numRuns: 20_000 },
    );
  });

  it('accepts the other RFC 3339 shapes typebox accepts', () => {
    for (const value of [
      '2026-12-07T02:00:00Z',
      '2026-12-07T02:00:00.123456+05:30',
      '2026-12-07t02:00:00z',
      '2016-12-31T23:59:60Z',
      '2024-02-29T00:00:00.000Z',
    ])
      assert.equal(isDateTime(value), true, value);
    for (const value of ['2026-12-07 02:00:00Z', '2026-12-07T02:00:00', '2025-02-29T00:00:00.000Z', ''])
      assert.equal(isDateTime(value), false, value);
  });

  it('still makes decodeEvent refuse an event whose time is no date-time', () => {
    const event = {
      schemaVersion: 1,
      id: '01JEX0000000000000000000AA',
      occurredAt: '2026-13-07T02:00:00.000Z',
      messageId: '01JEX0000000000000000000AB',
      tenantId: 't1',
      type: 'receipt.received',
      provider: 'sim',
      providerMessageId: 'p1',
      status: 'delivered',
      providerStatus: 'DELIVRD',
    };
    assert.throws(() => decodeEvent(JSON.stringify(event)), EventDecodeError);
    assert.equal(
      decodeEvent(JSON.stringify({ ...event, occurredAt: '2026-12-07T02:00:00.000Z' })).type,
      'receipt.received',
    );
  });
});
