import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { HmacSha256, hmacSha256 } from './hmac.ts';

const base64url = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');

// RFC 4231 §4: HMAC-SHA-256 test cases 1, 2, 6 and 7 (3 and 4 hash bytes that are not UTF-8 text,
// 5 truncates).
const RFC_4231 = [
  {
    key: Buffer.alloc(20, 0x0b),
    data: 'Hi There',
    mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
  },
  {
    key: 'Jefe',
    data: 'what do ya want for nothing?',
    mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  },
  {
    key: Buffer.alloc(131, 0xaa),
    data: 'Test Using Larger Than Block-Size Key - Hash Key First',
    mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  },
  {
    key: Buffer.alloc(131, 0xaa),
    data: 'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
    mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  },
];

test('HmacSha256 gives the RFC 4231 test vectors', () => {
  for (const { key, data, mac } of RFC_4231) {
    assert.equal(new HmacSha256(key).digest(data), base64url(mac));
  }
});

test('HmacSha256 equals createHmac for any key and any text, keys longer than a block included', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 100 }), fc.uint8Array({ minLength: 0, maxLength: 200 })),
      fc.string({ unit: 'grapheme', maxLength: 300 }),
      (key, message) => {
        const expected = createHmac('sha256', typeof key === 'string' ? Buffer.from(key) : key)
          .update(message, 'utf8')
          .digest('base64url');
        const hmac = new HmacSha256(key);
        assert.equal(hmac.digest(message), expected);
        assert.equal(hmac.digest(message, 'hex'), Buffer.from(expected, 'base64url').toString('hex'));
      },
    ),
    { numRuns: 500 },
  );
});

test('hmacSha256 keeps one instance per key, and digests stay the same when the map is cleared', () => {
  const first = hmacSha256('the dedup key');
  assert.equal(hmacSha256('the dedup key'), first);
  const before = first.digest('+14155550123');
  for (let i = 0; i < 1_100; i++) hmacSha256(`key ${i}`);
  assert.equal(hmacSha256('the dedup key').digest('+14155550123'), before);
});
