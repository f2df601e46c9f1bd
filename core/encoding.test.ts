import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SegmentedMessage } from 'sms-segments-calculator';
import { encodeText, isGsm7, LOOK_ALIKES } from './encoding.ts';

/** The independent count: Twilio's segment calculator, without its smart encoding. */
function oracle(text: string, smartEncoding = false): { encoding: string; segments: number } {
  const message = new SegmentedMessage(text, 'auto', smartEncoding);
  return { encoding: message.encodingName, segments: message.segmentsCount };
}

function ours(text: string, smartEncoding = false): { encoding: string; segments: number } {
  const { encoding, segments } = encodeText(text, { smartEncoding });
  return { encoding, segments };
}

const TURKISH = 'Doğrulama kodunuz: 482913. Şifrenizi kimseyle paylaşmayın.';
const SPANISH = 'Su código es 482913. ¡Gracias! Válido por 10 minutos.';
const PORTUGUESE = 'Olá! Seu código de verificação é 482913. Não compartilhe.';

/** Texts every grapheme of which is one code point: the oracle and Pigeon must agree exactly. */
const CORPUS: Record<string, string> = {
  'plain ASCII': 'Your order 1234 has shipped.',
  'exactly one GSM-7 part': 'a'.repeat(160),
  'one septet over': 'a'.repeat(161),
  'two full GSM-7 parts': 'a'.repeat(306),
  'one septet into the third part': 'a'.repeat(307),
  'ten full GSM-7 parts': 'x'.repeat(1530),
  'every extension character': 'Use {} [] ~ | ^ \\ € and a form feed \f here',
  'eighty euro signs fill one part': '€'.repeat(80),
  'eighty-one euro signs need two': '€'.repeat(81),
  'an escape pair at the part boundary moves whole': 'a'.repeat(152) + '€' + 'a'.repeat(10),
  'escape pairs filling three parts': 'a'.repeat(152) + '€'.repeat(77),
  'the GSM-7 Greek and accented letters': 'ΔΦΓΛΩΠΨΣΘΞ ÆæßÉ ÄÖÑÜ§¿ äöñüà èéùìòÇ Øø Åå £$¥¤¡',
  'CRLF line breaks': 'Line one\r\nLine two\r\nLine three',
  'one emoji': 'Thanks! 😀',
  'seventy UCS-2 units': '😀'.repeat(35),
  'seventy-two UCS-2 units': '😀'.repeat(36),
  'a surrogate pair at the UCS-2 boundary moves whole': 'a'.repeat(66) + '😀' + 'a'.repeat(10),
  'Chinese text': '您的验证码是482913，五分钟内有效。'.repeat(3),
  'Cyrillic text': 'Ваш код подтверждения: 482913',
  'Turkish without shift tables': TURKISH,
  'Spanish without shift tables': SPANISH,
  'Portuguese without shift tables': PORTUGUESE,
  'a long Turkish text': TURKISH.repeat(4),
  'a curly quote in a long text': `${'a'.repeat(150)}’s`,
};

describe('agreement with the independent segment calculator', () => {
  for (const [name, text] of Object.entries(CORPUS)) {
    test(`${name}: same encoding and part count`, () => {
      assert.deepEqual(ours(text), oracle(text));
    });
  }

  test('arbitrary text of single-code-point characters: same encoding and part count', () => {
    const alphabet = [...'aZ9 @£€{}[]~|^\\\nΔéñ', '’', '—', '你', 'ж', 'ş', '😀', '🚀'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 700 }), (chars) => {
        const text = chars.join('');
        if (text.length === 0) return true;
        assert.deepEqual(ours(text), oracle(text));
        return true;
      }),
      { numRuns: 300 },
    );
  });

  test('with replacement on both sides, quotes, dashes and the ellipsis count alike', () => {
    for (const text of [
      '“Welcome” — it’s ready…',
      `${'a'.repeat(150)} ‘ok’ – fine`,
      '«Oferta» válida – hasta el domingo',
    ]) {
      assert.deepEqual(ours(text, true), oracle(text, true), text);
    }
  });

  // The documented differences (docs/api.md, "Encoding"):

  test('differs: a no-break space becomes one space here, two in the calculator', () => {
    const text = `${'a'.repeat(159)}\u00a0`;
    assert.deepEqual(ours(text, true), { encoding: 'GSM-7', segments: 1 });
    assert.deepEqual(oracle(text, true), { encoding: 'GSM-7', segments: 2 });
  });

  test('differs: a UCS-2 part may end inside a grapheme cluster here, never in the calculator', () => {
    // 👍🏽 is two code points; the handset reassembles the parts, so only a surrogate pair must stay whole.
    const text = 'a'.repeat(65) + '👍🏽' + 'a'.repeat(65);
    assert.deepEqual(ours(text), { encoding: 'UCS-2', segments: 2 });
    assert.deepEqual(oracle(text), { encoding: 'UCS-2', segments: 3 });
  });

  test('differs: with national shift tables allowed, Turkish, Spanish and Portuguese stay GSM-7', () => {
    const cases = [
      { text: TURKISH, language: 'tr' as const },
      { text: SPANISH, language: 'es' as const },
      { text: PORTUGUESE, language: 'pt' as const },
    ];
    for (const { text, language } of cases) {
      const report = encodeText(text, { nationalLanguages: [language] });
      assert.equal(report.encoding, 'GSM-7', language);
      assert.equal(report.segments, 1, language);
      assert.ok(report.shiftTables?.single === language || report.shiftTables?.locking === language);
      assert.deepEqual(
        oracle(text),
        { encoding: 'UCS-2', segments: 1 },
        'the calculator has no shift tables',
      );
    }
    const long = encodeText(TURKISH.repeat(4), { nationalLanguages: ['tr'] });
    assert.equal(long.encoding, 'GSM-7');
    assert.equal(long.segments, 2);
    assert.equal(oracle(TURKISH.repeat(4)).segments, 4);
  });
});

describe('national shift tables', () => {
  test('a single shift table costs the header: 155 septets in one part, 149 in each of several', () => {
    // Spanish has no locking shift table: á costs an escape and itself.
    const one = encodeText('á' + 'a'.repeat(153), { nationalLanguages: ['es'] });
    assert.deepEqual([one.segments, one.units, one.perSegment], [1, 155, 155]);
    assert.deepEqual(one.shiftTables, { single: 'es' });
    const two = encodeText('á' + 'a'.repeat(154), { nationalLanguages: ['es'] });
    assert.deepEqual([two.segments, two.units, two.perSegment], [2, 156, 149]);
  });

  test('a locking shift alone holds Turkish letters at one septet each', () => {
    const report = encodeText('ş' + 'a'.repeat(154), { nationalLanguages: ['tr'] });
    assert.deepEqual([report.segments, report.units, report.perSegment], [1, 155, 155]);
    assert.deepEqual(report.shiftTables, { locking: 'tr' });
  });

  test('a locking and a single shift together leave 152 septets, 146 when concatenated', () => {
    // ª is only in the Portuguese locking table, Φ only in its single shift table.
    const text = 'ªΦ' + 'a'.repeat(149);
    const report = encodeText(text, { nationalLanguages: ['pt'] });
    assert.deepEqual(report.shiftTables, { locking: 'pt', single: 'pt' });
    assert.deepEqual([report.segments, report.units, report.perSegment], [1, 152, 152]);
    const longer = encodeText(text + 'a', { nationalLanguages: ['pt'] });
    assert.deepEqual([longer.segments, longer.perSegment], [2, 146]);
  });

  test('only the allowed languages are tried, and the default alphabet goes first', () => {
    assert.equal(encodeText(TURKISH, { nationalLanguages: ['es'] }).encoding, 'UCS-2');
    const plain = encodeText('Hello', { nationalLanguages: ['tr', 'es', 'pt'] });
    assert.equal(plain.shiftTables, undefined);
    assert.equal(plain.perSegment, 160);
  });

  test('the send paths count without them: Turkish letters force UCS-2', () => {
    const report = encodeText(TURKISH);
    assert.equal(report.encoding, 'UCS-2');
    assert.deepEqual(report.forcedUcs2, ['ğ', 'Ş', 'ş', 'ı']);
  });
});

describe('look-alike replacement', () => {
  test('every replacement is GSM-7 text, and no look-alike is GSM-7 itself', () => {
    for (const [from, to] of LOOK_ALIKES) {
      assert.ok(isGsm7(to), `${JSON.stringify(from)} → ${JSON.stringify(to)}`);
      assert.ok(!isGsm7(from), JSON.stringify(from));
    }
  });

  test('a curly apostrophe no longer turns one part into three', () => {
    const text = `We’ve received your payment of 25.00 EUR for order 88231 and it is being processed — ${'x'.repeat(60)}`;
    assert.equal(encodeText(text).encoding, 'UCS-2');
    assert.equal(encodeText(text).segments, 3);
    const report = encodeText(text, { smartEncoding: true });
    assert.equal(report.encoding, 'GSM-7');
    assert.equal(report.segments, 1);
    assert.equal(report.text, text.replace('’', "'").replace('—', '-'));
    assert.deepEqual(report.replaced, [
      { from: '’', to: "'", count: 1 },
      { from: '—', to: '-', count: 1 },
    ]);
    assert.deepEqual(report.forcedUcs2, []);
  });

  test('spaces, invisible characters and the ellipsis become their plain forms, counted per character', () => {
    const report = encodeText('Wait\u00a0for\u00a0it\u200b…\tnow', { smartEncoding: true });
    assert.equal(report.text, 'Wait for it... now');
    assert.deepEqual(report.replaced, [
      { from: '\u00a0', to: ' ', count: 2 },
      { from: '\u200b', to: '', count: 1 },
      { from: '…', to: '...', count: 1 },
      { from: '\t', to: ' ', count: 1 },
    ]);
  });

  test('nothing is replaced when another character keeps the text UCS-2, and that character is named', () => {
    const text = '“Hello” 😀 — see you';
    const report = encodeText(text, { smartEncoding: true });
    assert.equal(report.text, text);
    assert.equal(report.encoding, 'UCS-2');
    assert.deepEqual(report.replaced, []);
    assert.deepEqual(report.forcedUcs2, ['😀']);
  });

  test('without permission every character outside GSM-7 is named as forcing UCS-2', () => {
    const report = encodeText('“Hello” — 你好', { smartEncoding: false });
    assert.deepEqual(report.forcedUcs2, ['“', '”', '—', '你', '好']);
    assert.deepEqual(report.replaced, []);
  });

  test('replacement and a national table combine: curly quotes in Turkish text', () => {
    const report = encodeText(`“${TURKISH}”`, { smartEncoding: true, nationalLanguages: ['tr'] });
    assert.equal(report.encoding, 'GSM-7');
    assert.equal(report.text, `"${TURKISH}"`);
    assert.equal(report.replaced.length, 2);
  });

  test('the text sent is never longer in parts than the text given', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), (text) => {
        return encodeText(text, { smartEncoding: true }).segments <= encodeText(text).segments;
      }),
    );
  });
});

test('an empty text is no part at all', () => {
  assert.deepEqual([encodeText('').segments, encodeText('').encoding, encodeText('').units], [0, 'GSM-7', 0]);
});
