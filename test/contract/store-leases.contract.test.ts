/** The Store contract for named leases, run against both implementations. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

function leaseContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: leases`, () => {
    let store: Store;
    let target: StoreTarget;

    migratedStore(makeTarget, (opened) => ({ store, target } = opened));

    test('one holder at a time: the holder renews, another waits for expiry, then takes over', async () => {
      assert.equal(await store.acquireLease('runner', 'a', T0, T0 + 10_000), true);
      assert.equal(await store.acquireLease('runner', 'b', T0 + 1, T0 + 10_001), false);
      assert.equal(await store.acquireLease('runner', 'a', T0 + 5_000, T0 + 15_000), true);
      assert.equal(await store.acquireLease('runner', 'b', T0 + 14_999, T0 + 25_000), false);
      assert.equal(await store.acquireLease('runner', 'b', T0 + 15_000, T0 + 25_000), true);
      // The old holder lost it: its renewal fails until b's lease expires.
      assert.equal(await store.acquireLease('runner', 'a', T0 + 16_000, T0 + 26_000), false);
    });

    test('a released lease is free at once; leases of other names are independent', async () => {
      assert.equal(await store.acquireLease('r2', 'a', T0, T0 + 60_000), true);
      assert.equal(await store.acquireLease('other', 'b', T0, T0 + 60_000), true);
      await store.releaseLease('r2', 'b'); // not b's: no effect
      assert.equal(await store.acquireLease('r2', 'b', T0 + 1, T0 + 60_000), false);
      await store.releaseLease('r2', 'a');
      assert.equal(await store.acquireLease('r2', 'b', T0 + 2, T0 + 60_000), true);
    });

    test('of replicas racing for a free lease, through their own connections, exactly one wins', async () => {
      const stores = [target.open(), target.open(), target.open(), target.open()];
      try {
        const won = await Promise.all(
          stores.map((s, i) => s.acquireLease('race', `replica-${i}`, T0, T0 + 10_000)),
        );
        assert.equal(won.filter(Boolean).length, 1);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });
  });
}

againstEveryStore(leaseContract);
