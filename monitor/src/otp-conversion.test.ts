import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OtpConversion } from './otp-conversion.ts';

function tracker() {
  const clock = { now: 1_000_000 };
  return {
    clock,
    conversion: new OtpConversion({ now: () => clock.now, windowMs: 600_000, bucketMs: 60_000 }),
  };
}

test('sends join their provider in either order, and approvals divide by sends per provider and country', () => {
  const { conversion } = tracker();
  assert.equal(conversion.sent('m1', 'US'), undefined, 'no provider yet');
  assert.deepEqual(conversion.submitted('m1', 'sim-a', 'US'), { provider: 'sim-a', country: 'US' });
  assert.equal(conversion.submitted('m2', 'sim-b', 'GB'), undefined, 'not known as an OTP yet');
  assert.deepEqual(conversion.sent('m2', 'GB'), { provider: 'sim-b', country: 'GB' });
  conversion.sent('m3', 'US');
  conversion.submitted('m3', 'sim-a', 'US');
  assert.deepEqual(conversion.approved('m1', 'US', 'sms'), { provider: 'sim-a', country: 'US' });
  assert.deepEqual(
    conversion.snapshot().sort((a, b) => a.provider.localeCompare(b.provider)),
    [
      { provider: 'sim-a', country: 'US', sent: 2, approved: 1, ratio: 0.5 },
      { provider: 'sim-b', country: 'GB', sent: 1, approved: 0, ratio: 0 },
    ],
  );
});

test('a silent provider shows as its ratio falling while another keeps converting', () => {
  const { conversion } = tracker();
  for (let i = 0; i < 20; i++) {
    const provider = i % 2 === 0 ? 'good' : 'silent';
    conversion.sent(`m${i}`, 'DE');
    conversion.submitted(`m${i}`, provider, 'DE');
    if (provider === 'good') conversion.approved(`m${i}`, 'DE', 'sms');
  }
  const ratio = Object.fromEntries(conversion.snapshot().map((s) => [s.provider, s.ratio]));
  assert.deepEqual(ratio, { good: 1, silent: 0 });
});

test('authenticator approvals count as approvals but not as SMS conversion', () => {
  const { conversion } = tracker();
  conversion.sent('m1', 'FR');
  conversion.submitted('m1', 'p', 'FR');
  conversion.approved('m1', 'FR', 'totp');
  assert.equal(conversion.snapshot()[0]!.ratio, 0);
});

test('the window slides: old sends and approvals drop out', () => {
  const { clock, conversion } = tracker();
  conversion.sent('m1', 'CA');
  conversion.submitted('m1', 'p', 'CA');
  clock.now += 5 * 60_000;
  conversion.sent('m2', 'CA');
  conversion.submitted('m2', 'p', 'CA');
  conversion.approved('m2', 'CA', 'sms');
  assert.equal(conversion.snapshot()[0]!.sent, 2);
  clock.now += 6 * 60_000;
  assert.deepEqual(conversion.snapshot(), [{ provider: 'p', country: 'CA', sent: 1, approved: 1, ratio: 1 }]);
  clock.now += 11 * 60_000;
  assert.deepEqual(conversion.snapshot(), []);
});

test('a failover copy counts for its provider and takes the approval; a replayed submission counts once', () => {
  const { conversion } = tracker();
  conversion.sent('m1', 'US');
  conversion.submitted('m1', 'first', 'US');
  assert.equal(conversion.submitted('m1', 'first', 'US'), undefined);
  assert.deepEqual(conversion.submitted('m1', 'second', 'US'), { provider: 'second', country: 'US' });
  conversion.approved('m1', 'US', 'sms');
  const byProvider = Object.fromEntries(conversion.snapshot().map((s) => [s.provider, [s.sent, s.approved]]));
  assert.deepEqual(byProvider, { first: [1, 0], second: [1, 1] });
  assert.deepEqual(conversion.attribute('nope', 'US'), { provider: 'unknown', country: 'US' });
});
