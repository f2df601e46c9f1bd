import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MESSAGE_CLASSES } from './message.ts';
import { ALL_SENDERS, blocks, DEFAULT_KEYWORDS, keywordAction, normalizeKeyword } from './opt-out.ts';

const US = '+15005550006';
const CN = '+8613800138000';

describe('opt-out keywords', () => {
  test('every default stop word stops, whatever its case and surrounding whitespace', () => {
    for (const word of [
      'STOP',
      'stop',
      '  Stop\n',
      'UNSUBSCRIBE',
      'cancel',
      'End',
      'quit',
      'Stop.',
      'STOP!',
    ]) {
      assert.equal(keywordAction(word, US), 'stop', word);
    }
  });

  test('STOPALL stops every sender; START, UNSTOP and YES lift; HELP asks for help', () => {
    assert.equal(keywordAction('stopall', US), 'stop_all');
    assert.equal(keywordAction(' START ', US), 'start');
    assert.equal(keywordAction('unstop', US), 'start');
    assert.equal(keywordAction('Yes', US), 'start');
    assert.equal(keywordAction('help', US), 'help');
  });

  test('退订 stops anywhere, full-width letters fold to ASCII, and TD stops only for Chinese senders', () => {
    assert.equal(keywordAction('退订', CN), 'stop');
    assert.equal(keywordAction(' 退订。', CN), 'stop');
    assert.equal(keywordAction('ＳＴＯＰ', CN), 'stop');
    assert.equal(keywordAction('td', CN), 'stop');
    assert.equal(keywordAction('TD', '10690000123'), 'stop');
    assert.equal(keywordAction('TD', US), undefined, 'a US number does not honour TD');
  });

  test('only the whole text is a keyword', () => {
    for (const text of ["please don't stop", 'stop it now', 'STOPP', '', '   ', 'ACK 4821']) {
      assert.equal(keywordAction(text, US), undefined, text);
    }
  });

  test("a tenant's own lists replace the defaults", () => {
    const keywords = { ...DEFAULT_KEYWORDS, stop: ['ARRET'], help: ['AIDE', 'INFO'] };
    assert.equal(keywordAction('Arret', US, keywords), 'stop');
    assert.equal(keywordAction('STOP', US, keywords), undefined);
    assert.equal(keywordAction('info', US, keywords), 'help');
  });

  test('normalizes width and case but keeps inner spaces', () => {
    assert.equal(normalizeKeyword('ｓｔｏｐ ａｌｌ'), 'STOP ALL');
  });
});

describe('suppression rules', () => {
  const SENDER = '+15005550006';
  const OTHER = '+15005550007';

  test('a STOP to one sender blocks marketing from that sender only', () => {
    assert.equal(blocks([SENDER], { class: 'marketing', from: SENDER }), true);
    assert.equal(blocks([SENDER], { class: 'marketing', from: OTHER }), false);
    assert.equal(blocks([SENDER], { class: 'marketing' }), true, 'no sender named: any opt-out applies');
    assert.equal(blocks([SENDER], { class: 'transactional', from: SENDER }), false);
  });

  test('a STOPALL blocks marketing and transactional from every sender, never OTP or alerts', () => {
    const all = [ALL_SENDERS];
    assert.equal(blocks(all, { class: 'marketing', from: OTHER }), true);
    assert.equal(blocks(all, { class: 'transactional', from: OTHER }), true);
    assert.equal(blocks(all, { class: 'transactional' }), true);
    assert.equal(blocks(all, { class: 'otp', from: SENDER }), false);
    assert.equal(blocks(all, { class: 'alert' }), false);
  });

  test('no suppression blocks nothing, for every class', () => {
    for (const messageClass of MESSAGE_CLASSES) {
      assert.equal(blocks([], { class: messageClass, from: SENDER }), false);
    }
  });
});
