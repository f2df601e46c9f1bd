import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { splitText } from './encoding.ts';

describe('SMPP text splitting', () => {
  test('fits 160 GSM-7 septets or 70 UCS-2 units in one part', () => {
    assert.equal(splitText('a'.repeat(160)).parts.length, 1);
    assert.equal(splitText('a'.repeat(161)).parts.length, 2);
    assert.equal(splitText('я'.repeat(70)).parts.length, 1);
    assert.equal(splitText('я'.repeat(71)).parts.length, 2);
  });
});
