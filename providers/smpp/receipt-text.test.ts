import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseReceiptText } from './receipt-text.ts';

describe('SMPP receipt text', () => {
  test('reads the Appendix B fields with either case of Text and 10- or 12-digit dates', () => {
    assert.deepEqual(
      parseReceiptText(
        'id:1234567890 sub:001 dlvrd:001 submit date:1608011415 done date:1608011417 stat:DELIVRD err:000 Text:Hello Adobe world',
      ),
      {
        id: '1234567890',
        sub: '001',
        dlvrd: '001',
        submitDate: '1608011415',
        doneDate: '1608011417',
        stat: 'DELIVRD',
        err: '000',
        text: 'Hello Adobe world',
      },
    );
    const variant = parseReceiptText(
      'id:7a44aaba-336f-4a92-9502-dd106aa7369f sub:001 dlvrd:001 submit date:231123193758 done date:231123193800 stat:delivrd err:0 text:',
    );
    assert.equal(variant.id, '7a44aaba-336f-4a92-9502-dd106aa7369f');
    assert.equal(variant.doneDate, '231123193800');
    assert.equal(variant.stat, 'DELIVRD');
    assert.equal(variant.text, '');
  });

  test('never takes fields from the free text', () => {
    const fields = parseReceiptText('id:42 stat:UNDELIV err:001 text:stat:DELIVRD id:99');
    assert.equal(fields.id, '42');
    assert.equal(fields.stat, 'UNDELIV');
    assert.equal(fields.text, 'stat:DELIVRD id:99');
  });
});
