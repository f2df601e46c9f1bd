/** The Store contract for the per-tenant sender registry, run against both implementations. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SenderRecord } from '../../core/store/kinds/senders.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

function sender(overrides: Partial<SenderRecord> = {}): SenderRecord {
  return {
    tenantId: 'tenant-a',
    sender: 'ACME',
    kind: 'alphanumeric',
    countries: [],
    isDefault: false,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function senderContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: sender registry`, () => {
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    test('a tenant’s senders round-trip, ordered by sender, and no other tenant sees them', async () => {
      const records = [
        sender({ sender: 'ACME Bank', countries: ['GB', 'IE'], isDefault: true }),
        sender({ sender: '+447400123456', kind: 'number', countries: ['GB'] }),
        sender({ sender: '72345', kind: 'short_code' }),
      ];
      for (const r of records) await store.putSender(r);
      await store.putSender(sender({ tenantId: 'tenant-b', sender: 'OTHER' }));
      assert.deepEqual(
        await store.listSenders('tenant-a'),
        [...records].sort((a, b) => (a.sender < b.sender ? -1 : 1)),
      );
      assert.deepEqual(
        (await store.listSenders('tenant-b')).map((s) => s.sender),
        ['OTHER'],
      );
      assert.deepEqual(await store.listSenders('tenant-none'), []);
    });

    test('putting a sender again replaces its countries and default flag, keeping createdAt', async () => {
      await store.putSender(sender({ tenantId: 'tenant-r', countries: ['US'] }));
      await store.putSender(
        sender({
          tenantId: 'tenant-r',
          countries: ['GB'],
          isDefault: true,
          createdAt: T0 + 9,
          updatedAt: T0 + 5,
        }),
      );
      assert.deepEqual(await store.listSenders('tenant-r'), [
        sender({ tenantId: 'tenant-r', countries: ['GB'], isDefault: true, updatedAt: T0 + 5 }),
      ]);
    });

    test('a sender is deleted once, from its own tenant only', async () => {
      await store.putSender(sender({ tenantId: 'tenant-d' }));
      await store.putSender(sender({ tenantId: 'tenant-e' }));
      assert.equal(await store.deleteSender('tenant-d', 'ACME'), true);
      assert.equal(await store.deleteSender('tenant-d', 'ACME'), false);
      assert.deepEqual(await store.listSenders('tenant-d'), []);
      assert.equal((await store.listSenders('tenant-e')).length, 1);
    });
  });
}

againstEveryStore(senderContract);
