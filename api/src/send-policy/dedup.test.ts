import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dedupFingerprint, normaliseBody } from './dedup.ts';

const KEY = 'k'.repeat(32);
const base = {
  to: '+14155550123',
  from: 'ACME',
  messageClass: 'marketing' as const,
  body: 'Sale: 20% off today',
};

test('a body differing only in whitespace or Unicode composition is the same message', () => {
  assert.equal(normaliseBody('  Sale:\n20%  off\ttoday '), 'Sale: 20% off today');
  const fp = dedupFingerprint(KEY, base);
  assert.equal(dedupFingerprint(KEY, { ...base, body: 'Sale:  20% off\ntoday ' }), fp);
  assert.equal(
    dedupFingerprint(KEY, { ...base, body: 'Cafe\u0301' }),
    dedupFingerprint(KEY, { ...base, body: 'Caf\u00e9' }),
  );
});

test('another number, sender, class, case or key makes another fingerprint', () => {
  const fp = dedupFingerprint(KEY, base);
  const others = [
    dedupFingerprint(KEY, { ...base, to: '+14155550124' }),
    dedupFingerprint(KEY, { ...base, from: undefined }),
    dedupFingerprint(KEY, { ...base, messageClass: 'transactional' }),
    dedupFingerprint(KEY, { ...base, body: 'sale: 20% off today' }),
    dedupFingerprint('another key of 32 bytes at least', base),
  ];
  assert.equal(new Set([fp, ...others]).size, 6);
  assert.doesNotMatch(fp, /4155550123|Sale/);
});
