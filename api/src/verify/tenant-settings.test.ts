import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TenantOtpSettings } from '../../../core/store/kinds/otp-settings.ts';
import type { Store } from '../../../core/store/store.ts';
import { TenantOtpSettingsCache } from './tenant-settings.ts';

/** A store holding only tenant OTP settings, counting reads, that can be made to fail. */
function fakeStore() {
  const rows = new Map<string, TenantOtpSettings>();
  const state = { reads: 0, failing: false };
  const store = {
    async getTenantOtpSettings(tenantId: string) {
      state.reads++;
      if (state.failing) throw new Error('database down');
      return rows.get(tenantId);
    },
  } as unknown as Store;
  return { store, rows, state };
}

const GB: TenantOtpSettings = { allowedCountries: ['GB'], dailySpendCap: null, updatedAt: 1 };

test('reads once per TTL, shares concurrent reads, and forget makes the next request read', async () => {
  const { store, rows, state } = fakeStore();
  const clock = { now: 0 };
  const cache = new TenantOtpSettingsCache(store, () => clock.now, 5_000);
  rows.set('t', GB);
  assert.deepEqual(await Promise.all([cache.get('t'), cache.get('t'), cache.get('t')]), [GB, GB, GB]);
  assert.equal(state.reads, 1);
  rows.set('t', { ...GB, allowedCountries: ['IE'] });
  clock.now = 4_999;
  assert.deepEqual(await cache.get('t'), GB, 'stale within the TTL');
  clock.now = 5_000;
  assert.deepEqual((await cache.get('t'))?.allowedCountries, ['IE']);
  rows.delete('t');
  cache.forget('t');
  assert.equal(await cache.get('t'), undefined);
  assert.equal(state.reads, 3);
});

test('a store outage keeps the last value read, or the defaults for a tenant never read', async () => {
  const { store, rows, state } = fakeStore();
  const clock = { now: 0 };
  const cache = new TenantOtpSettingsCache(store, () => clock.now, 5_000);
  rows.set('t', GB);
  await cache.get('t');
  state.failing = true;
  clock.now = 10_000;
  assert.deepEqual(await cache.get('t'), GB);
  assert.deepEqual(await cache.get('t'), GB);
  assert.equal(state.reads, 2, 'the failure is kept for the TTL too');
  assert.equal(await cache.get('never-read'), undefined);
  clock.now = 20_000;
  assert.deepEqual(await cache.get('t'), GB, 'still the last value read after another failed read');
  state.failing = false;
  clock.now = 30_000;
  rows.delete('t');
  assert.equal(await cache.get('t'), undefined);
});
