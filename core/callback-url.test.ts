import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callbackHost, callbackUrlProblem, isPublicAddress } from './callback-url.ts';

const strict = { allowPrivateNetworks: false };

test('public http(s) URLs are accepted, with paths, queries and ports', () => {
  for (const url of [
    'https://hooks.example.com/pigeon',
    'http://hooks.example.com:8080/a/b?tenant=1&x=%20',
    'https://93.184.216.34/cb',
    'https://[2606:2800:220:1:248:1893:25c8:1946]/cb',
  ]) {
    assert.equal(callbackUrlProblem(url, strict), undefined, url);
  }
});

test('other schemes, credentials, fragments, relative and over-long URLs are refused', () => {
  for (const url of [
    'ftp://hooks.example.com/',
    'javascript:alert(1)',
    'https://user:pass@hooks.example.com/',
    'https://hooks.example.com/#frag',
    '/relative/path',
    `https://hooks.example.com/${'a'.repeat(2100)}`,
  ]) {
    assert.notEqual(callbackUrlProblem(url, strict), undefined, url);
  }
});

test('loopback, private, link-local and metadata addresses are refused unless allowed', () => {
  for (const url of [
    'http://localhost:3000/',
    'http://api.localhost/',
    'http://127.0.0.1/',
    'http://0x7f.1/', // 127.0.0.1 spelled the old way; URL parsing normalises it
    'http://10.1.2.3/',
    'http://172.20.0.1/',
    'http://192.168.1.10/',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.0.1/',
    'http://[::1]/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://[::ffff:10.0.0.1]/',
    'http://0.0.0.0/',
  ]) {
    assert.notEqual(callbackUrlProblem(url, strict), undefined, url);
    assert.equal(callbackUrlProblem(url, { allowPrivateNetworks: true }), undefined, url);
  }
});

test('address classification', () => {
  assert.equal(isPublicAddress('8.8.8.8'), true);
  assert.equal(isPublicAddress('2001:4860:4860::8888'), true);
  assert.equal(isPublicAddress('127.0.0.53'), false);
  assert.equal(isPublicAddress('::ffff:127.0.0.1'), false);
  assert.equal(isPublicAddress('not an address'), false);
});

test('the host a delivery is limited by is host:port, lower case', () => {
  assert.equal(callbackHost('https://Hooks.Example.com/x'), 'hooks.example.com');
  assert.equal(callbackHost('http://hooks.example.com:8080/x'), 'hooks.example.com:8080');
  assert.equal(callbackHost(null), '');
});
