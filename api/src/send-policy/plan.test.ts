import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from '../../../core/errors.ts';
import type { SendLimits } from './limits.ts';
import { planAdmission, refusalOf, scriptInput, utcPeriods } from './plan.ts';

const LIMITS: SendLimits = {
  ratePerSecond: 10,
  burst: 20,
  perRecipientHour: 5,
  perRecipientDay: 0,
  dailySpendCap: 2,
  monthlySpendCap: 30,
};
const PUMPING = { prefixBurst: { limit: 10, windowMs: 600_000 }, prefixBlockMs: 3_600_000 };
const NOW = Date.parse('2026-02-27T18:00:00.000Z');
const send = (messageClass: 'otp' | 'transactional') => ({
  tenantId: 't1',
  e164: '+14155550123',
  messageClass,
  costMicros: 50_000,
});

test('a transactional send passes the bucket, the hourly cap and both spend caps; a limit of 0 adds nothing', () => {
  const plan = planAdmission(send('transactional'), LIMITS, PUMPING, NOW);
  assert.deepEqual(plan.bucket, { key: 'send:bucket:{t1}', ratePerSecond: 10, burst: 20 });
  assert.deepEqual(
    plan.windows.map((w) => [w.key, w.by, w.limit, w.windowMs, w.code]),
    [
      ['send:to:hour:{t1}:+14155550123', 1, 5, 3_600_000, 'PIGEON_ERR_RECIPIENT_CAP'],
      ['send:spend:{t1}:2026-02-27', 50_000, 2_000_000, 6 * 3_600_000, 'PIGEON_ERR_SPEND_CAP'],
      ['send:spend:{t1}:2026-02', 50_000, 30_000_000, 30 * 3_600_000, 'PIGEON_ERR_SPEND_CAP'],
    ],
  );
});

test("an otp send also counts in its number range's burst, the verifications' own key, with the block as penalty", () => {
  const range = planAdmission(send('otp'), LIMITS, PUMPING, NOW).windows.find(
    (w) => w.code === 'PIGEON_ERR_PUMPING_SUSPECTED',
  );
  assert.deepEqual(range && [range.key, range.limit, range.windowMs, range.penaltyMs], [
    'otp:rl:burst:{t1}:+14155550',
    10,
    600_000,
    3_600_000,
  ]);
});

test('the script input is the bucket then each window, four arguments a window', () => {
  const plan = planAdmission(
    send('transactional'),
    { ...LIMITS, dailySpendCap: 0, monthlySpendCap: 0 },
    PUMPING,
    NOW,
  );
  assert.deepEqual(scriptInput(plan, NOW), {
    keys: ['send:bucket:{t1}', 'send:to:hour:{t1}:+14155550123'],
    args: [NOW, 10, 20, 1, 5, 3_600_000, 0],
  });
});

test('a reply maps to the refusal of the key it names, with Retry-After in whole seconds', () => {
  const plan = planAdmission(send('transactional'), LIMITS, PUMPING, NOW);
  assert.equal(refusalOf(plan, [0, 0, 0]), undefined);
  const bucket = refusalOf(plan, [1, 100, 0])!;
  assert.ok(isPigeonError(bucket.error));
  assert.equal(bucket.error.code, 'PIGEON_ERR_RATE_LIMITED');
  assert.equal(bucket.error.retryAfterSeconds, 1);
  const cap = refusalOf(plan, [2, 1_800_001, 1])!;
  assert.equal(cap.error.code, 'PIGEON_ERR_RECIPIENT_CAP');
  assert.equal(cap.error.retryAfterSeconds, 1801);
  assert.match(cap.error.message, /at most 5 per hour/);
  assert.equal(cap.first, true);
  assert.equal(refusalOf(plan, [4, 5_000, 0])!.error.code, 'PIGEON_ERR_SPEND_CAP');
});

test('UTC periods end at midnight and at the first of the next month', () => {
  assert.deepEqual(utcPeriods(Date.parse('2026-12-31T23:00:00.000Z')), {
    day: '2026-12-31',
    dayMsLeft: 3_600_000,
    month: '2026-12',
    monthMsLeft: 3_600_000,
  });
});

test('UTC periods stay right from one instant to the next, across a midnight and back', () => {
  const before = Date.parse('2027-01-31T23:59:59.999Z');
  for (const now of [before, before + 1, before, before + 1 + 86_400_000, before - 86_400_000]) {
    const date = new Date(now);
    const day = date.toISOString().slice(0, 10);
    assert.deepEqual(utcPeriods(now), {
      day,
      dayMsLeft: Date.parse(`${day}T00:00:00.000Z`) + 86_400_000 - now,
      month: day.slice(0, 7),
      monthMsLeft: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) - now,
    });
  }
});
