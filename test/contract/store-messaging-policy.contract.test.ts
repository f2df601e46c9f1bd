/** The Store contract for a tenant's messaging policy, run against both implementations. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TenantMessagingPolicy } from '../../core/store/kinds/messaging-policy.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

function messagingPolicyContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: messaging policy`, () => {
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    test('a tenant without a policy has none', async () => {
      assert.equal(await store.getTenantMessagingPolicy('policy-none'), undefined);
    });

    test('a policy round-trips whole, per-weekday windows and all, and is replaced by the next put', async () => {
      const policy: TenantMessagingPolicy = {
        quietHours: {
          start: '21:00',
          end: '08:00',
          byWeekday: { saturday: { start: '20:00', end: '10:00' }, sunday: null },
        },
        marketingPerDay: 2,
        marketingPerWeek: 5,
        dedupWindowSeconds: 600,
        smartEncoding: true,
        updatedAt: T0,
      };
      await store.putTenantMessagingPolicy('policy-a', policy);
      await store.putTenantMessagingPolicy('policy-b', { ...policy, marketingPerDay: 9 });
      assert.deepEqual(await store.getTenantMessagingPolicy('policy-a'), policy);

      const cleared: TenantMessagingPolicy = {
        quietHours: null,
        marketingPerDay: null,
        marketingPerWeek: null,
        dedupWindowSeconds: 0,
        smartEncoding: false,
        updatedAt: T0 + 1,
      };
      await store.putTenantMessagingPolicy('policy-a', cleared);
      assert.deepEqual(await store.getTenantMessagingPolicy('policy-a'), cleared);
      assert.equal((await store.getTenantMessagingPolicy('policy-b'))?.marketingPerDay, 9);
    });
  });
}

againstEveryStore(messagingPolicyContract);
