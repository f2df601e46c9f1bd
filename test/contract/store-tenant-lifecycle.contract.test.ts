/**
 * The Store contract for running tenants and their keys (/v1/admin/tenants): tenant records and
 * suspension, and the API key lifecycle (list, revoke, rotate with overlap), run against both
 * implementations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId } from '../../core/ids.ts';
import type { ApiKeyRecord } from '../../core/store/kinds/api-keys.ts';
import type { TenantRecord } from '../../core/store/kinds/tenants.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;
const DAY = 86_400_000;

function tenant(id: string, overrides: Partial<TenantRecord> = {}): TenantRecord {
  return { id, name: `Tenant ${id}`, status: 'active', createdAt: T0, updatedAt: T0, ...overrides };
}

function apiKey(tenantId: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  const id = newId();
  return {
    id,
    tenantId,
    prefix: `pgn_${id.slice(-8)}`,
    hash: id.toLowerCase().padEnd(64, '0'),
    scopes: ['messages:write'],
    name: 'checkout service',
    createdAt: T0,
    revokedAt: null,
    expiresAt: null,
    hint: id.slice(-4),
    ...overrides,
  };
}

function lifecycleContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: tenants and the API key lifecycle`, () => {
    let store: Store;
    // Tenant ids unique to this run, so the listing tests see only their own.
    const run = newId().slice(-6).toLowerCase();
    const id = (suffix: string) => `${run}-${suffix}`;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    test('a tenant round-trips by id; an unknown id reads as undefined', async () => {
      const acme = tenant(id('acme'));
      assert.equal(await store.createTenant(acme), true);
      assert.deepEqual(await store.getTenant(acme.id), acme);
      assert.equal(await store.getTenant(id('nobody')), undefined);
    });

    test('creating a tenant whose id is taken changes nothing and says so', async () => {
      const first = tenant(id('taken'));
      await store.createTenant(first);
      assert.equal(
        await store.createTenant(tenant(id('taken'), { name: 'impostor', status: 'suspended' })),
        false,
      );
      assert.deepEqual(await store.getTenant(first.id), first);
    });

    test('suspending and resuming a tenant changes its status and time; an unknown one answers false', async () => {
      const t = tenant(id('suspend-me'));
      await store.createTenant(t);
      assert.equal(await store.setTenantStatus(t.id, 'suspended', T0 + 1000), true);
      assert.deepEqual(await store.getTenant(t.id), { ...t, status: 'suspended', updatedAt: T0 + 1000 });
      assert.equal(await store.setTenantStatus(t.id, 'active', T0 + 2000), true);
      assert.deepEqual(await store.getTenant(t.id), { ...t, status: 'active', updatedAt: T0 + 2000 });
      assert.equal(await store.setTenantStatus(id('ghost'), 'suspended', T0), false);
      assert.equal(await store.getTenant(id('ghost')), undefined);
    });

    test('tenants list in id order, a page at a time after the last id seen', async () => {
      const ids = ['page-c', 'page-a', 'page-e', 'page-b', 'page-d'].map(id);
      for (const t of ids) await store.createTenant(tenant(t));
      const after = id('page-');
      const first = await store.listTenants({ after, limit: 2 });
      assert.deepEqual(
        first.map((t) => t.id),
        ['page-a', 'page-b'].map(id),
      );
      const second = await store.listTenants({ after: first.at(-1)!.id, limit: 2 });
      assert.deepEqual(
        second.map((t) => t.id),
        ['page-c', 'page-d'].map(id),
      );
      const all = await store.listTenants({ limit: 1000 });
      const ours = all.map((t) => t.id).filter((t) => t.startsWith(id('page-')));
      assert.deepEqual(ours, ['page-a', 'page-b', 'page-c', 'page-d', 'page-e'].map(id));
    });

    test("a tenant's keys list oldest first, with their expiry and hint, and no other tenant's", async () => {
      const tenantId = id('keys');
      const first = apiKey(tenantId);
      const second = apiKey(tenantId, { expiresAt: T0 + DAY, scopes: ['admin'] });
      await store.putApiKey(first);
      await store.putApiKey(second);
      await store.putApiKey(apiKey(id('other')));
      assert.deepEqual(await store.listApiKeys(tenantId), [first, second]);
      assert.deepEqual(await store.getApiKey(tenantId, second.id), second);
      assert.equal(await store.getApiKey(id('other'), second.id), undefined);
      assert.deepEqual(await store.listApiKeys(id('nobody')), []);
    });

    test('a key is revoked once, only by its own tenant', async () => {
      const tenantId = id('revoke');
      const key = apiKey(tenantId);
      await store.putApiKey(key);
      assert.equal(await store.revokeApiKey(id('other'), key.id, T0 + 5), false);
      assert.equal((await store.findApiKeyByHash(key.hash))?.revokedAt, null);
      assert.equal(await store.revokeApiKey(tenantId, key.id, T0 + 10), true);
      assert.equal(await store.revokeApiKey(tenantId, key.id, T0 + 20), false);
      assert.deepEqual(await store.findApiKeyByHash(key.hash), { ...key, revokedAt: T0 + 10 });
      assert.equal(await store.revokeApiKey(tenantId, newId(), T0), false);
    });

    test('rotating stores the replacement and gives the old key its end, both at once', async () => {
      const tenantId = id('rotate');
      const old = apiKey(tenantId);
      await store.putApiKey(old);
      const replacement = apiKey(tenantId, { createdAt: T0 + 100 });
      const rotated = await store.rotateApiKey(tenantId, old.id, replacement, {
        now: T0 + 100,
        expiresAt: T0 + DAY,
      });
      assert.equal(rotated, true);
      assert.deepEqual(await store.findApiKeyByHash(replacement.hash), replacement);
      assert.deepEqual(await store.findApiKeyByHash(old.hash), { ...old, expiresAt: T0 + DAY });
    });

    test('a second rotation never moves an end further away', async () => {
      const tenantId = id('rotate-twice');
      const old = apiKey(tenantId);
      await store.putApiKey(old);
      await store.rotateApiKey(tenantId, old.id, apiKey(tenantId), { now: T0, expiresAt: T0 + 1000 });
      const later = apiKey(tenantId);
      assert.equal(
        await store.rotateApiKey(tenantId, old.id, later, { now: T0 + 10, expiresAt: T0 + DAY }),
        true,
      );
      assert.equal((await store.findApiKeyByHash(old.hash))?.expiresAt, T0 + 1000);
      const sooner = apiKey(tenantId);
      assert.equal(
        await store.rotateApiKey(tenantId, old.id, sooner, { now: T0 + 20, expiresAt: T0 + 20 }),
        true,
      );
      assert.equal((await store.findApiKeyByHash(old.hash))?.expiresAt, T0 + 20);
    });

    test('a key revoked, expired, unknown or of another tenant is not rotated, and nothing is stored', async () => {
      const tenantId = id('no-rotate');
      const revoked = apiKey(tenantId, { revokedAt: T0 });
      const expired = apiKey(tenantId, { expiresAt: T0 + 50 });
      const live = apiKey(tenantId);
      for (const key of [revoked, expired, live]) await store.putApiKey(key);
      const attempts: Array<[string, string]> = [
        [tenantId, revoked.id],
        [tenantId, expired.id],
        [tenantId, newId()],
        [id('other'), live.id],
      ];
      for (const [owner, keyId] of attempts) {
        const replacement = apiKey(owner);
        const rotated = await store.rotateApiKey(owner, keyId, replacement, {
          now: T0 + 100,
          expiresAt: T0 + DAY,
        });
        assert.equal(rotated, false, `${owner}/${keyId}`);
        assert.equal(await store.findApiKeyByHash(replacement.hash), undefined);
      }
      assert.deepEqual(await store.findApiKeyByHash(expired.hash), expired);
      assert.deepEqual(await store.findApiKeyByHash(live.hash), live);
    });
  });
}

againstEveryStore(lifecycleContract);
