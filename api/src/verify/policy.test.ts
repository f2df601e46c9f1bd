import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientKey, MAX_SENDS, nextSendAt, utcDay } from './policy.ts';

test('client addresses count by IPv4 address or IPv6 /64', () => {
  assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
});

test('re-sends wait 30 s, 60 s, 120 s, 240 s, and stop after five sends', () => {
  const t = 1_000_000;
  assert.equal(nextSendAt(1, t, t + 29_999), t + 30_000);
  assert.equal(nextSendAt(1, t, t + 30_000), undefined);
  assert.equal(nextSendAt(2, t, t + 59_999), t + 60_000);
  assert.equal(nextSendAt(3, t, t + 120_000), undefined);
  assert.equal(nextSendAt(4, t, t + 239_999), t + 240_000);
  assert.equal(nextSendAt(MAX_SENDS, t, t + 10_000_000), 'limit');
});

test('the UTC day of the spend cap ends at midnight', () => {
  const now = Date.parse('2026-03-04T23:59:59.000Z');
  assert.deepEqual(utcDay(now), { day: '2026-03-04', msLeft: 1000 });
});
