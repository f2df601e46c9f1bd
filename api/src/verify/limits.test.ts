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

const NOW = Date.parse('2030-06-01T12:00:00.000Z');
const CALLER = { tenantId: 'tenant-a', ip: '203.0.113.7' };
const US = { e164: '+14155550123', country: 'US' };

async function limits(overrides: Partial<VerificationSettings> = {}) {
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
  const subject = new VerificationLimits({
    cache,
    logger,
    registry,
    settings,
    tenantSettings,
    audit,
    now: () => NOW,
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
  const spendKey = await subject.hitSendLimits(CALLER, US, true, 600_000, NOW, policy);
  assert.ok(spendKey);
  await subject.giveBackSpend(spendKey, 600_000);
  assert.equal(await subject.hitSendLimits(CALLER, US, false, 600_000, NOW, policy), spendKey);
  await assert.rejects(
    subject.hitSendLimits(CALLER, US, false, 600_000, NOW, policy),
    refusedWith('PIGEON_ERR_SPEND_CAP'),
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
