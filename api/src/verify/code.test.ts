import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { codeDigest, codeMatches, generateCode } from './code.ts';

const key = randomBytes(32);

test('codes have the asked length, digits only, for every length from 4 to 10', () => {
  for (let length = 4; length <= 10; length++) {
    for (let i = 0; i < 200; i++) assert.match(generateCode(length), new RegExp(`^[0-9]{${length}}$`));
  }
  assert.throws(() => generateCode(3), RangeError);
  assert.throws(() => generateCode(11), RangeError);
});

test('codes are uniform: every 4-digit value about equally often (chi-square)', () => {
  const draws = 200_000;
  const counts = new Uint32Array(10_000);
  for (let i = 0; i < draws; i++) counts[Number(generateCode(4))]!++;
  const expected = draws / 10_000;
  let chi = 0;
  for (const c of counts) chi += (c - expected) ** 2 / expected;
  // 9,999 degrees of freedom: mean 9,999, sd ≈ 141; 10,700 is about 5 sd out.
  assert.ok(chi < 10_700, `chi-square ${Math.round(chi)}`);
  assert.ok(chi > 9_300, `chi-square ${Math.round(chi)} is too even to be random`);
});

test('no predictable sequence: a code says nothing about the next one', () => {
  const n = 100_000;
  const codes = Array.from({ length: n }, () => Number(generateCode(6)));
  // Lag-1 serial correlation of independent uniform draws is ~N(0, 1/n).
  const mean = codes.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    den += (codes[i]! - mean) ** 2;
    if (i > 0) num += (codes[i]! - mean) * (codes[i - 1]! - mean);
  }
  assert.ok(Math.abs(num / den) < 5 / Math.sqrt(n), `serial correlation ${num / den}`);
  // Differences between consecutive codes spread over the whole range mod 10^6 (a counter or a
  // linear generator would pile them on a few values).
  const steps = new Set<number>();
  for (let i = 1; i < n; i++) steps.add((codes[i]! - codes[i - 1]! + 1_000_000) % 1_000_000);
  assert.ok(steps.size > 0.9 * n, `${steps.size} distinct steps`);
  // Repeats: about n²/2·10⁶ = 5,000 expected by the birthday bound; far more means a short cycle.
  assert.ok(n - new Set(codes).size < 5_600);
});

test('a digest depends on the key, the verification and the code, and is not the code', () => {
  const d = codeDigest(key, 'V1', '123456');
  assert.match(d, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!d.includes('123456'));
  assert.notEqual(codeDigest(key, 'V2', '123456'), d);
  assert.notEqual(codeDigest(key, 'V1', '123457'), d);
  assert.notEqual(codeDigest(randomBytes(32), 'V1', '123456'), d);
  assert.notEqual(codeDigest(key, 'V11', '23456'), d, 'the id and code are separated');
  assert.equal(codeDigest(key, 'V1', '123456'), d);
});

test('a code matches only its own digest; no stored digest never matches', () => {
  const d = codeDigest(key, 'V1', '123456');
  assert.equal(codeMatches(key, 'V1', '123456', d), true);
  assert.equal(codeMatches(key, 'V1', '654321', d), false);
  assert.equal(codeMatches(key, 'V2', '123456', d), false);
  assert.equal(codeMatches(key, 'V1', '123456', undefined), false);
  assert.equal(codeMatches(key, 'V1', '123456', 'short'), false);
});
