/**
 * The Store contract for a tenant's API keys, TOTP factors, OTP settings and send limits, run against both
 * implementations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId } from '../../core/ids.ts';
import type { ApiKeyRecord } from '../../core/store/kinds/api-keys.ts';
import type { TotpFactorRecord } from '../../core/store/kinds/factors.ts';
import type { TenantSendLimits } from '../../core/store/kinds/send-limits.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

function apiKey(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: newId(),
    tenantId: 'tenant-a',
    prefix: 'pk_live_a1b2',
    hash: newId().toLowerCase().padEnd(64, '0'),
    scopes: ['messages:send', 'messages:read'],
    name: 'checkout service',
    createdAt: T0,
    revokedAt: null,
    expiresAt: null,
    hint: 'x9Qz',
    ...overrides,
  };
}

function tenantContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: API keys, TOTP factors, OTP settings, send limits`, () => {
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    test('an api key round-trips by its hash', async () => {
      const key = apiKey();
      await store.putApiKey(key);
      assert.deepEqual(await store.findApiKeyByHash(key.hash), key);
      const revoked = apiKey({ revokedAt: T0 + 60_000, scopes: [] });
      await store.putApiKey(revoked);
      assert.deepEqual(await store.findApiKeyByHash(revoked.hash), revoked);
      assert.equal(await store.findApiKeyByHash('f'.repeat(64)), undefined);
    });

    test('putting a key whose hash is already stored changes nothing', async () => {
      const key = apiKey();
      await store.putApiKey(key);
      await store.putApiKey(key);
      await store.putApiKey(apiKey({ hash: key.hash, name: 'impostor', tenantId: 'tenant-b' }));
      assert.deepEqual(await store.findApiKeyByHash(key.hash), key);
    });

    let factors = 0;
    const factor = (overrides: Partial<TotpFactorRecord> = {}): TotpFactorRecord => ({
      id: newId(),
      tenantId: 'tenant-a',
      recipient: `+1415555${String(1000 + ++factors)}`,
      secret: 'enc:v1:c2VhbGVkLXNlY3JldC1ieXRlcw',
      status: 'unverified',
      createdAt: T0,
      verifiedAt: null,
      ...overrides,
    });

    test('a TOTP factor round-trips by id and by number, only for its tenant', async () => {
      const f = factor();
      await store.putTotpFactor(f);
      assert.deepEqual(await store.getTotpFactor(f.tenantId, f.id), f);
      assert.deepEqual(await store.findTotpFactor(f.tenantId, f.recipient), f);
      assert.equal(await store.getTotpFactor('tenant-b', f.id), undefined);
      assert.equal(await store.findTotpFactor('tenant-b', f.recipient), undefined);
      assert.equal(await store.getTotpFactor(f.tenantId, newId()), undefined);
    });

    test('a new factor for the same number replaces the old one; other tenants keep theirs', async () => {
      const first = factor({ status: 'verified', verifiedAt: T0 + 5 });
      const other = factor({ tenantId: 'tenant-b', recipient: first.recipient });
      await store.putTotpFactor(first);
      await store.putTotpFactor(other);
      const second = factor({ recipient: first.recipient, secret: 'enc:v1:b3RoZXI', createdAt: T0 + 10 });
      await store.putTotpFactor(second);
      assert.equal(await store.getTotpFactor(first.tenantId, first.id), undefined);
      assert.deepEqual(await store.findTotpFactor(first.tenantId, first.recipient), second);
      assert.deepEqual(await store.findTotpFactor('tenant-b', first.recipient), other);
    });

    test('a tenant has a verified factor once one of its numbers has one, and not after its deletion', async () => {
      const tenantId = `tenant-${newId()}`;
      const f = factor({ tenantId });
      assert.equal(await store.hasVerifiedTotpFactor(tenantId), false);
      await store.putTotpFactor(f);
      assert.equal(await store.hasVerifiedTotpFactor(tenantId), false, 'an unverified factor is not one');
      await store.verifyTotpFactor(tenantId, f.id, T0 + 100);
      assert.equal(await store.hasVerifiedTotpFactor(tenantId), true);
      assert.equal(await store.hasVerifiedTotpFactor(`tenant-${newId()}`), false);
      await store.deleteTotpFactor(tenantId, f.id);
      assert.equal(await store.hasVerifiedTotpFactor(tenantId), false);
    });

    test('verifying a factor keeps the first verification time; deleting removes it once', async () => {
      const f = factor();
      await store.putTotpFactor(f);
      assert.equal(await store.verifyTotpFactor(f.tenantId, f.id, T0 + 100), true);
      assert.equal(await store.verifyTotpFactor(f.tenantId, f.id, T0 + 200), true);
      assert.deepEqual(await store.getTotpFactor(f.tenantId, f.id), {
        ...f,
        status: 'verified',
        verifiedAt: T0 + 100,
      });
      assert.equal(await store.verifyTotpFactor('tenant-b', f.id, T0), false);
      assert.equal(await store.deleteTotpFactor('tenant-b', f.id), false);
      assert.equal(await store.deleteTotpFactor(f.tenantId, f.id), true);
      assert.equal(await store.deleteTotpFactor(f.tenantId, f.id), false);
      assert.equal(await store.getTotpFactor(f.tenantId, f.id), undefined);
    });

    test('tenant OTP settings round-trip, nulls included, per tenant, and a put replaces them', async () => {
      assert.equal(await store.getTenantOtpSettings('otp-a'), undefined);
      await store.putTenantOtpSettings('otp-a', {
        allowedCountries: ['GB', 'IE'],
        dailySpendCap: 12.345678,
        updatedAt: T0,
      });
      await store.putTenantOtpSettings('otp-b', { allowedCountries: null, dailySpendCap: 0, updatedAt: T0 });
      assert.deepEqual(await store.getTenantOtpSettings('otp-a'), {
        allowedCountries: ['GB', 'IE'],
        dailySpendCap: 12.345678,
        updatedAt: T0,
      });
      assert.deepEqual(await store.getTenantOtpSettings('otp-b'), {
        allowedCountries: null,
        dailySpendCap: 0,
        updatedAt: T0,
      });
      await store.putTenantOtpSettings('otp-a', {
        allowedCountries: null,
        dailySpendCap: null,
        updatedAt: T0 + 1,
      });
      assert.deepEqual(await store.getTenantOtpSettings('otp-a'), {
        allowedCountries: null,
        dailySpendCap: null,
        updatedAt: T0 + 1,
      });
      assert.equal((await store.getTenantOtpSettings('otp-b'))?.dailySpendCap, 0);
    });

    test('tenant send limits round-trip, per class too, and a put replaces them', async () => {
      assert.equal(await store.getTenantSendLimits('limits-a'), undefined);
      const limits: TenantSendLimits = {
        ratePerSecond: 50,
        burst: 200,
        perRecipientHour: null,
        perRecipientDay: 20,
        dailySpendCap: 12.345678,
        monthlySpendCap: 0,
        classes: { marketing: { perRecipientHour: 1, perRecipientDay: null } },
        updatedAt: T0,
      };
      await store.putTenantSendLimits('limits-a', limits);
      await store.putTenantSendLimits('limits-b', { ...limits, ratePerSecond: null, classes: {} });
      assert.deepEqual(await store.getTenantSendLimits('limits-a'), limits);
      const cleared: TenantSendLimits = {
        ratePerSecond: null,
        burst: null,
        perRecipientHour: null,
        perRecipientDay: null,
        dailySpendCap: null,
        monthlySpendCap: null,
        classes: {},
        updatedAt: T0 + 1,
      };
      await store.putTenantSendLimits('limits-a', cleared);
      assert.deepEqual(await store.getTenantSendLimits('limits-a'), cleared);
      assert.equal((await store.getTenantSendLimits('limits-b'))?.burst, 200);
    });
  });
}

againstEveryStore(tenantContract);
