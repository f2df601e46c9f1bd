import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { assertOneSlot, crc16, hashTag, keySlot } from './slots.ts';

test('crc16 is the XMODEM checksum Redis Cluster specifies (check value of "123456789")', () => {
  assert.equal(crc16(Buffer.from('123456789')), 0x31c3);
});

test('keySlot matches the slots of the Redis Cluster specification', () => {
  // Figures from the spec and from CLUSTER KEYSLOT on a real Redis 7.
  assert.equal(keySlot('foo'), 12182);
  assert.equal(keySlot('bar'), 5061);
  assert.equal(keySlot('somekey'), 11058);
  assert.equal(keySlot('foo{bar}'), keySlot('bar'));
});

test('keySlot hashes only the first tag, and the whole key for an empty or unclosed one', () => {
  assert.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
  assert.equal(keySlot('foo{}{bar}'), keySlot('foo{}{bar}'));
  assert.notEqual(keySlot('foo{}{bar}'), keySlot('bar'));
  assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'));
  assert.equal(keySlot('foo{bar}{zap}'), keySlot('bar'));
  assert.equal(keySlot('no{tag'), keySlot('no{tag'));
});

test('a prefix without braces keeps the slot of a tagged key', () => {
  const key = `send:bucket:${hashTag('tenant-1')}`;
  assert.equal(keySlot(`pigeon-prod:${key}`), keySlot(key));
});

test('assertOneSlot accepts keys sharing a tag and names two that do not', () => {
  assertOneSlot('s', [`a:${hashTag('t')}:1`, `b:${hashTag('t')}:2`, `c:${hashTag('t')}`]);
  assertOneSlot('s', ['lone']);
  assert.throws(() => assertOneSlot('s', ['foo', 'bar']), /script s: .*"foo" and "bar"/);
});

test('assertOneSlot passes exactly the key sets keySlot puts in one slot, tagged or not', () => {
  const part = fc.constantFrom('', 'a', 't', 'tenant-é', '{', '}', '{t}', '{}', 'x{t', 'y}');
  const key = fc.array(part, { maxLength: 4 }).map((parts) => parts.join(''));
  fc.assert(
    fc.property(fc.array(key, { minLength: 2, maxLength: 5 }), (keys) => {
      const oneSlot = keys.every((k) => keySlot(k) === keySlot(keys[0]!));
      let passed = true;
      try {
        assertOneSlot('s', keys);
      } catch {
        passed = false;
      }
      assert.equal(passed, oneSlot);
    }),
    { numRuns: 2000 },
  );
});
