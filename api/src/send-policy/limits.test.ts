import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../../core/config.ts';
import type { TenantSendLimits } from '../../../core/store/kinds/send-limits.ts';
import { effectiveLimits } from './limits.ts';

const defaults = loadConfig({}).send;

const tenant = (overrides: Partial<TenantSendLimits>): TenantSendLimits => ({
  ratePerSecond: null,
  burst: null,
  perRecipientHour: null,
  perRecipientDay: null,
  dailySpendCap: null,
  monthlySpendCap: null,
  classes: {},
  updatedAt: 0,
  ...overrides,
});

test('a tenant with no limits stored gets the gateway defaults', () => {
  assert.deepEqual(effectiveLimits(defaults, undefined, 'transactional'), {
    ratePerSecond: 500,
    burst: 5000,
    perRecipientHour: 10,
    perRecipientDay: 50,
    dailySpendCap: 1000,
    monthlySpendCap: 20000,
  });
});

test("each field is the class's, else the tenant's, else the gateway's; 0 is a value, not a default", () => {
  const limits = tenant({
    ratePerSecond: 5,
    perRecipientHour: 3,
    perRecipientDay: 0,
    monthlySpendCap: 0,
    classes: { marketing: { perRecipientHour: 1, perRecipientDay: null } },
  });
  assert.deepEqual(effectiveLimits(defaults, limits, 'marketing'), {
    ratePerSecond: 5,
    burst: 5000,
    perRecipientHour: 1,
    perRecipientDay: 0,
    dailySpendCap: 1000,
    monthlySpendCap: 0,
  });
  assert.equal(effectiveLimits(defaults, limits, 'otp').perRecipientHour, 3);
});
