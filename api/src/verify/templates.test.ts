import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countSegments } from '../../../core/segments.ts';
import {
  APP_HASH,
  APP_NAME,
  OTP_LOCALES,
  renderOtpText,
  resolveLocale,
  WEB_OTP_DOMAIN,
} from './templates.ts';

test('every locale renders the code and the validity, with and without an app name, in at most two parts', () => {
  for (const locale of OTP_LOCALES) {
    for (const appName of [undefined, 'Acme Bank']) {
      const text = renderOtpText({ locale, code: '482913', ttlSeconds: 300, appName });
      assert.ok(text.includes('482913'), `${locale}: ${text}`);
      assert.ok(text.includes('5'), `${locale} shows the minutes`);
      if (appName) assert.ok(text.includes(appName), `${locale} names the app`);
      assert.ok(countSegments(text).segments <= 2, `${locale}: ${countSegments(text).segments} parts`);
    }
  }
  assert.equal(
    renderOtpText({ locale: 'en', code: '0042', ttlSeconds: 61 }),
    'Your verification code is 0042. It expires in 2 min. Do not share it.',
  );
  assert.equal(renderOtpText({ locale: 'en', code: '0042', ttlSeconds: 300 }).split('\n').length, 1);
});

test('the SMS Retriever form starts with <#> and carries the app hash on its own line', () => {
  const text = renderOtpText({ locale: 'de', code: '123456', ttlSeconds: 300, appHash: 'FA+9qCX9VSu' });
  assert.ok(text.startsWith('<#> '));
  assert.equal(text.split('\n').at(-1), 'FA+9qCX9VSu');
});

test('the WebOTP line `@domain #code` is the last line, after the app hash when both are asked for', () => {
  const text = renderOtpText({
    locale: 'ja',
    code: '123456',
    ttlSeconds: 300,
    appHash: 'FA+9qCX9VSu',
    webOtpDomain: 'Login.Example.com',
  });
  const lines = text.split('\n');
  assert.equal(lines.at(-1), '@login.example.com #123456');
  assert.equal(lines.at(-3), 'FA+9qCX9VSu');
  assert.ok(lines[0]!.startsWith('<#> '));
});

test('locales resolve by tag, by language, then by the country, else English', () => {
  assert.equal(resolveLocale('zh-CN', 'US'), 'zh-CN');
  assert.equal(resolveLocale('pt-br', undefined), 'pt-BR');
  assert.equal(resolveLocale('es-MX', undefined), 'es');
  assert.equal(resolveLocale('pt', undefined), 'pt-BR');
  assert.equal(resolveLocale('zh-Hant-TW', undefined), 'zh-CN');
  assert.equal(resolveLocale(undefined, 'JP'), 'ja');
  assert.equal(resolveLocale(undefined, 'FR'), 'fr');
  assert.equal(resolveLocale('ko', 'DE'), 'de');
  assert.equal(resolveLocale(undefined, 'GB'), 'en');
  assert.equal(resolveLocale('xx', undefined), 'en');
});

test('app names, hashes and WebOTP domains are checked for shape', () => {
  assert.match('Acme Bank', APP_NAME);
  assert.match('微信', APP_NAME);
  assert.doesNotMatch('Acme\nVisit evil.example', APP_NAME);
  assert.doesNotMatch('http://evil.example/x', APP_NAME);
  assert.doesNotMatch('x'.repeat(31), APP_NAME);
  assert.match('FA+9qCX9VSu', APP_HASH);
  assert.doesNotMatch('short', APP_HASH);
  assert.match('login.example.com', WEB_OTP_DOMAIN);
  assert.doesNotMatch('https://example.com', WEB_OTP_DOMAIN);
  assert.doesNotMatch('example.com:443', WEB_OTP_DOMAIN);
});
