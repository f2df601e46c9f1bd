/**
 * The Store contract for provider definitions, routing rules and the routing version, run against
 * both implementations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId } from '../../core/ids.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

function routingContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: routing`, () => {
    let target: StoreTarget;
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store, target } = opened));

    test('a provider definition round-trips with its credentials and nested options intact', async () => {
      const definition = {
        name: `acme-${newId().slice(-6)}`,
        type: 'http-json',
        weight: 3,
        prices: { GB: 0.031, '*': 0.05 },
        senderId: 'ACME',
        options: { baseUrl: 'https://sms.example/v1', apiSecret: 's3cr3t-ü-✓', retry: { max: 2 } },
      };
      assert.equal(await store.putProvider(definition), true);
      const stored = (await store.listProviders()).find((p) => p.name === definition.name);
      assert.ok(stored);
      assert.equal(stored.type, 'http-json');
      assert.equal(stored.enabled, true);
      assert.deepEqual(stored.definition, definition);
      assert.ok(Number.isInteger(stored.updatedAt) && stored.updatedAt > 0);
    });

    test('putting a provider again replaces it; deleting it says whether it was there', async () => {
      const name = `swap-${newId().slice(-6)}`;
      await store.putProvider({ name, type: 'simulator', weight: 1 });
      await store.putProvider({ name, type: 'other', enabled: false, weight: 9 });
      const stored = (await store.listProviders()).filter((p) => p.name === name);
      assert.equal(stored.length, 1);
      assert.equal(stored[0]!.type, 'other');
      assert.equal(stored[0]!.enabled, false);
      assert.deepEqual(stored[0]!.definition, { name, type: 'other', enabled: false, weight: 9 });
      assert.equal(await store.deleteProvider(name), true);
      assert.equal(await store.deleteProvider(name), false);
      assert.equal(
        (await store.listProviders()).find((p) => p.name === name),
        undefined,
      );
    });

    test('providers list by name', async () => {
      const fresh = await makeTarget();
      const s = fresh.open();
      try {
        await s.migrate();
        for (const name of ['charlie', 'alpha', 'bravo']) await s.putProvider({ name, type: 'simulator' });
        assert.deepEqual(
          (await s.listProviders()).map((p) => p.name),
          ['alpha', 'bravo', 'charlie'],
        );
      } finally {
        await s.close();
        await fresh.dispose();
      }
    });

    test('ifAbsent writes a provider or route only when none is stored under that key', async () => {
      const name = `seed-${newId().slice(-6)}`;
      assert.equal(await store.putProvider({ name, type: 'simulator', weight: 1 }, { ifAbsent: true }), true);
      assert.equal(
        await store.putProvider({ name, type: 'simulator', weight: 2 }, { ifAbsent: true }),
        false,
      );
      const provider = (await store.listProviders()).find((p) => p.name === name);
      assert.equal(provider?.definition.weight, 1);

      const id = newId();
      const rule = { id, priority: 5, enabled: true, tiers: [[{ provider: name, weight: 1 }]] };
      assert.equal(await store.putRoute(rule, { ifAbsent: true }), true);
      assert.equal(await store.putRoute({ ...rule, priority: 6 }, { ifAbsent: true }), false);
      assert.equal((await store.listRoutes()).find((r) => r.id === id)?.priority, 5);
    });

    test('routes round-trip, list by priority then id, and can be replaced and deleted', async () => {
      const fresh = await makeTarget();
      const s = fresh.open();
      try {
        await s.migrate();
        const route = (id: string, priority: number, enabled = true) => ({
          id,
          name: `route ${id}`,
          priority,
          country: 'GB',
          strategy: 'least_cost',
          tiers: [[{ provider: 'a', weight: 1, senderId: 'ACME' }], [{ provider: 'b', weight: 2 }]],
          enabled,
        });
        await s.putRoute(route('01B', 20));
        await s.putRoute(route('01C', 10, false));
        await s.putRoute(route('01A', 20));
        const listed = await s.listRoutes();
        assert.deepEqual(
          listed.map((r) => [r.id, r.priority, r.enabled]),
          [
            ['01C', 10, false],
            ['01A', 20, true],
            ['01B', 20, true],
          ],
        );
        assert.deepEqual(listed[1]!.definition, route('01A', 20));

        await s.putRoute(route('01B', 5));
        assert.deepEqual(
          (await s.listRoutes()).map((r) => r.id),
          ['01B', '01C', '01A'],
        );
        assert.equal(await s.deleteRoute('01C'), true);
        assert.equal(await s.deleteRoute('01C'), false);
        assert.deepEqual(
          (await s.listRoutes()).map((r) => r.id),
          ['01B', '01A'],
        );
      } finally {
        await s.close();
        await fresh.dispose();
      }
    });

    test('the routing version changes on every write and delete, even within one millisecond', async () => {
      const other = target.open();
      try {
        // Pollers compare with the last version they saw, so each change must differ from the one
        // before (undoing a change may bring back an earlier version, with the earlier content).
        let last = '';
        const expectChange = async (what: string) => {
          const version = await store.routingVersion();
          assert.notEqual(version, last, `${what} changed the version`);
          last = version;
          assert.equal(await other.routingVersion(), version, 'another process sees the same version');
        };
        await expectChange('start');
        assert.equal(await store.routingVersion(), last, 'stable without writes');
        const name = `ver-${newId().slice(-6)}`;
        await store.putProvider({ name, type: 'simulator' });
        await expectChange('a new provider');
        // Back to back: likely the same millisecond, and the definition is identical.
        await store.putProvider({ name, type: 'simulator' });
        await expectChange('rewriting a provider');
        await store.putProvider({ name, type: 'simulator' });
        await expectChange('rewriting it again');
        const id = newId();
        await store.putRoute({ id, priority: 1, enabled: true });
        await expectChange('a new route');
        await store.putRoute({ id, priority: 1, enabled: false });
        await expectChange('changing a route');
        await store.deleteRoute(id);
        await expectChange('deleting a route');
        await store.deleteProvider(name);
        await expectChange('deleting a provider');
      } finally {
        await other.close();
      }
    });
  });
}

againstEveryStore(routingContract);
