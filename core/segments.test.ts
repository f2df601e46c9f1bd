import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { countSegments } from './segments.ts';

test('plain ASCII up to 160 characters is one GSM-7 part', () => {
  assert.deepEqual(countSegments('a'.repeat(160)), { encoding: 'GSM-7', segments: 1, units: 160 });
  assert.deepEqual(countSegments('a'.repeat(161)), { encoding: 'GSM-7', segments: 2, units: 161 });
  assert.equal(countSegments('a'.repeat(306)).segments, 2);
  assert.equal(countSegments('a'.repeat(307)).segments, 3);
});

test('extension characters cost two septets and are never split across parts', () => {
  assert.equal(countSegments('€'.repeat(80)).units, 160);
  assert.equal(countSegments('€'.repeat(80)).segments, 1);
  // 152 septets of text then an escape pair: the pair cannot straddle the 153-septet boundary.
  assert.equal(countSegments('a'.repeat(152) + '€' + 'a'.repeat(10)).segments, 2);
  const s = countSegments('a'.repeat(152) + '€'.repeat(77));
  assert.equal(s.units, 306);
  assert.equal(s.segments, 3);
});

test('any non-GSM character switches the whole text to UCS-2 at 70/67', () => {
  assert.deepEqual(countSegments('你'.repeat(70)), { encoding: 'UCS-2', segments: 1, units: 70 });
  assert.equal(countSegments('你'.repeat(71)).segments, 2);
  assert.equal(countSegments('a'.repeat(69) + 'ж').segments, 1);
});

test('surrogate pairs count two units and are never split', () => {
  const text = 'a'.repeat(66) + '😀';
  assert.equal(countSegments(text + 'a'.repeat(10)).segments, 2);
  assert.equal(countSegments('😀'.repeat(35)).segments, 1);
});

test('parts never exceed their capacity for arbitrary text', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 800 }), (text) => {
      const info = countSegments(text);
      if (text.length === 0) return info.segments === 0;
      const per = info.encoding === 'GSM-7' ? [160, 153] : [70, 67];
      return info.segments === 1 ? info.units <= per[0]! : info.units <= info.segments * per[1]!;
    }),
  );
});
