import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
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

test('the plain-ASCII shortcut gives what the full normalisation gives, for any text', () => {
  const full = (body: string) => body.normalize('NFC').replace(/\s+/gu, ' ').trim();
  const pieces = fc.constantFrom(
    'a',
    'Z',
    '9',
    '%',
    ' ',
    '  ',
    '\t',
    '\n',
    'e\u0301',
    '\u00e9',
    '\u00a0',
    '~',
    '',
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.array(pieces).map((p) => p.join('')),
      ),
      (body) => {
        assert.equal(normaliseBody(body), full(body));
      },
    ),
    { numRuns: 2000 },
  );
});

test('the fingerprint is HMAC-SHA-256 of the identity under the key, as before keys were imported once', () => {
  const identity = [base.to, base.from, base.messageClass, base.body].join('\0');
  assert.equal(dedupFingerprint(KEY, base), createHmac('sha256', KEY).update(identity).digest('base64url'));
  const bytes = new TextEncoder().encode(KEY);
  assert.equal(dedupFingerprint(bytes, base), dedupFingerprint(KEY, base));
});
