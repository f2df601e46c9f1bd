import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../../core/bus/memory-bus.ts';
import { MemoryCache } from '../../../core/cache/memory-cache.ts';
import { loadConfig } from '../../../core/config.ts';
import { isPigeonError } from '../../../core/errors.ts';
import { createLogger } from '../../../core/logger.ts';
import { createRegistry } from '../../../core/metrics.ts';
import { SqliteStore } from '../../../core/store/sqlite-store.ts';
import { VerificationAudit } from './audit.ts';
import { VerificationLimits } from './limits.ts';
import { checkDestination } from '../send-policy/destination.ts';
import { type VerificationSettings, verificationSettings } from './settings.ts';
import { TenantOtpSettingsCache } from './tenant-settings.ts';
import { SendPolicy } from '../send-policy/engine.ts';
import { sendPolicySettings } from '../send-policy/limits.ts';
import { TenantSendLimitsCache } from '../send-policy/tenant-limits.ts';
import type { ProviderInfo } from '../../../routing/table.ts';

const NOW = Date.parse('2030-06-01T12:00:00.000Z');
const CALLER = { tenantId: 'tenant-a', ip: '203.0.113.7' };
const US = { e164: '+14155550123', country: 'US' };

async function limits(
  overrides: Partial<VerificationSettings> = {},
  withSendPolicy = false,
  providers: ProviderInfo[] = [],
) {
  const store = new SqliteStore(':memory:');
  await store.migrate();
  const registry = createRegistry('api');
  const logger = createLogger({ level: 'silent' });
  const settings = {
    ...verificationSettings(
      loadConfig({}),
      { otpKey: undefined, factorKey: undefined, bodyKey: undefined },
      'memory',
    ),
    ...overrides,
  };
  const cache = new MemoryCache({ now: () => NOW, sweepIntervalMs: 0 });
  const audit = new VerificationAudit({ bus: new MemoryBus(), logger, registry });
  const tenantSettings = new TenantOtpSettingsCache(store, () => NOW);
  const sendPolicy = new SendPolicy({
    cache,
    logger,
    registry,
    settings: sendPolicySettings(loadConfig({})),
    tenantLimits: new TenantSendLimitsCache(store, () => NOW),
    otpSettings: tenantSettings,
    providers: () => providers,
    now: () => NOW,
  });
  const subject = new VerificationLimits({
    cache,
    logger,
    registry,
    settings,
    tenantSettings,
    audit,
    now: () => NOW,
    ...(withSendPolicy ? { sendPolicy } : {}),
  });
  return { subject, store, registry, tenantSettings };
}

function refusedWith(code: string, minRetryAfterSeconds = 1) {
  return (err: unknown) =>
    isPigeonError(err) && err.code === code && (err.retryAfterSeconds ?? 0) >= minRetryAfterSeconds;
}

test("a tenant's overrides replace the gateway allowlist and spend cap, naming where each comes from", async () => {
  const { subject, store, tenantSettings } = await limits({
    allowedCountries: new Set(['US']),
    dailySpendCap: 100,
  });
  const gateway = await subject.tenantPolicy('tenant-a');
  assert.deepEqual([...gateway.allowedCountries], ['US']);
  assert.match(gateway.countriesSetting, /PIGEON_OTP_ALLOWED_COUNTRIES/);
  assert.equal(gateway.dailySpendCap, 100);

  await store.putTenantOtpSettings('tenant-a', {
    allowedCountries: ['GB'],
    dailySpendCap: 5,
    updatedAt: NOW,
  });
  tenantSettings.forget('tenant-a');
  const tenant = await subject.tenantPolicy('tenant-a');
  assert.deepEqual([...tenant.allowedCountries], ['GB']);
  assert.match(tenant.countriesSetting, /this tenant's OTP country allowlist/);
  assert.equal(tenant.dailySpendCap, 5);
  assert.match(tenant.spendCapSetting, /this tenant's OTP daily spend cap 5/);
});

test('checks from one client address are refused once its window is full, and the block is counted', async () => {
  const { subject, registry } = await limits({ checksPerIp: { limit: 2, windowMs: 60_000 } });
  await subject.hitCheckLimits(CALLER);
  await subject.hitCheckLimits(CALLER);
  await assert.rejects(subject.hitCheckLimits(CALLER), refusedWith('PIGEON_ERR_RATE_LIMITED'));
  await subject.hitCheckLimits({ ...CALLER, ip: '203.0.113.8' });
  assert.match(await registry.metrics(), /pigeon_otp_blocked_total\{[^}]*reason="velocity"[^}]*\} 1/);
});

test('spend given back for a send that did not happen can be spent again, up to the cap', async () => {
  const { subject } = await limits({ dailySpendCap: 1 });
  const policy = await subject.tenantPolicy('tenant-a');
  // No send policy, so no route table: 12 parts at the fallback PIGEON_SEND_PRICE_PER_PART 0.05.
  const twelveParts = { ...US, segments: 12 };
  const hold = await subject.hitSendLimits(CALLER, twelveParts, true, NOW, policy);
  assert.ok(hold.spendKey);
  assert.equal(hold.costMicros, 600_000);
  await subject.giveBackSpend(hold);
  assert.equal(
    (await subject.hitSendLimits(CALLER, twelveParts, false, NOW, policy)).spendKey,
    hold.spendKey,
  );
  await assert.rejects(
    subject.hitSendLimits(CALLER, twelveParts, false, NOW, policy),
    refusedWith('PIGEON_ERR_SPEND_CAP'),
  );
});

test("a code's OTP spend counts at the route table's price for its country, else at the fallback", async () => {
  const provider = (name: string, prices: Record<string, number>, enabled = true): ProviderInfo => ({
    name,
    weight: 1,
    enabled,
    senderId: undefined,
    prices: new Map(Object.entries(prices)),
  });
  const { subject } = await limits({ dailySpendCap: 0.32 }, true, [
    provider('cheap', { GB: 0.04 }),
    provider('dear', { GB: 0.07, FR: 0.02 }),
    provider('off', { GB: 9, US: 9 }, false),
  ]);
  const policy = await subject.tenantPolicy('tenant-a');
  const gb = (n: number, segments = 1) => ({
    e164: `+4474001${String(10_000 + n)}`,
    country: 'GB',
    segments,
  });
  // The dearest enabled provider's price for GB; US, which no enabled provider prices, at 0.05.
  assert.equal((await subject.hitSendLimits(CALLER, gb(1), true, NOW, policy)).costMicros, 70_000);
  assert.equal((await subject.hitSendLimits(CALLER, US, true, NOW, policy)).costMicros, 50_000);
  assert.equal((await subject.hitSendLimits(CALLER, gb(2, 2), true, NOW, policy)).costMicros, 140_000);
  // 0.26 of 0.32 spent: one more GB code does not fit (at a flat 0.05 it would).
  await assert.rejects(
    subject.hitSendLimits(CALLER, gb(3), true, NOW, policy),
    (err: unknown) =>
      refusedWith('PIGEON_ERR_SPEND_CAP')(err) &&
      /PIGEON_OTP_DAILY_SPEND_CAP 0\.32/.test((err as Error).message),
  );
});

test('a destination refused by policy is counted as a block; an invalid number is not', async () => {
  const { subject, registry } = await limits({ allowedCountries: new Set(['US']) });
  const allowed = new Set(['US']);
  assert.throws(
    () => subject.refusedAs(CALLER, undefined, () => checkDestination('+10005550123', allowed)),
    refusedWith('PIGEON_ERR_INVALID_NUMBER', 0),
  );
  assert.doesNotMatch(await registry.metrics(), /pigeon_otp_blocked_total\{/);
  assert.throws(
    () => subject.refusedAs(CALLER, undefined, () => checkDestination('+447400123456', allowed)),
    refusedWith('PIGEON_ERR_COUNTRY_NOT_ALLOWED', 0),
  );
  assert.match(await registry.metrics(), /pigeon_otp_blocked_total\{[^}]*reason="country"[^}]*\} 1/);
});

test("codes take the tenant's send-policy tokens and count in its message spend caps", async () => {
  const { subject, store, registry } = await limits({ dailySpendCap: 0 }, true);
  const unset = {
    ratePerSecond: null,
    burst: null,
    perRecipientHour: null,
    perRecipientDay: null,
    dailySpendCap: null,
    monthlySpendCap: null,
    classes: {},
    updatedAt: NOW,
  };
  await store.putTenantSendLimits('tenant-a', { ...unset, ratePerSecond: 1, burst: 2 });
  await store.putTenantSendLimits('tenant-b', { ...unset, dailySpendCap: 0.1 });
  const policy = await subject.tenantPolicy('tenant-a');
  const to = (n: number) => ({ e164: `+1415555${String(1000 + n)}`, country: 'US' });
  await subject.hitSendLimits(CALLER, to(1), true, NOW, policy);
  await subject.hitSendLimits(CALLER, to(2), true, NOW, policy);
  await assert.rejects(
    subject.hitSendLimits(CALLER, to(3), true, NOW, policy),
    refusedWith('PIGEON_ERR_RATE_LIMITED'),
  );
  assert.match(await registry.metrics(), /pigeon_api_send_refused_total\{reason="rate",class="otp"[^}]*\} 1/);

  // Two parts at the fallback 0.05 fit a cap of 0.1; one given back (its send did not happen) can
  // be spent again, and the next is refused.
  const b = { ...CALLER, tenantId: 'tenant-b' };
  const hold = await subject.hitSendLimits(b, to(4), true, NOW, policy);
  await subject.hitSendLimits(b, to(5), true, NOW, policy);
  await subject.giveBackSpend(hold);
  await subject.hitSendLimits(b, to(6), true, NOW, policy);
  await assert.rejects(
    subject.hitSendLimits(b, to(7), true, NOW, policy),
    refusedWith('PIGEON_ERR_SPEND_CAP'),
  );
});
