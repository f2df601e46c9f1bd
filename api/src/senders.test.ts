import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PigeonError } from '../../core/errors.ts';
import type { SenderRecord, SenderStore } from '../../core/store/kinds/senders.ts';
import { SenderDirectory } from './senders.ts';

/** A registry in memory whose reads can be made to fail, as a database outage would. */
class RegistryInMemory implements SenderStore {
  reads = 0;
  down = false;
  readonly records: SenderRecord[] = [];

  async listSenders(tenantId: string): Promise<SenderRecord[]> {
    this.reads++;
    if (this.down) throw new PigeonError('PIGEON_ERR_STORE_UNAVAILABLE');
    return this.records.filter((r) => r.tenantId === tenantId);
  }

  async putSender(record: SenderRecord): Promise<void> {
    this.records.push(record);
  }

  async deleteSender(): Promise<boolean> {
    return false;
  }
}

const record = (sender: string): SenderRecord => ({
  tenantId: 'shop',
  sender,
  kind: 'alphanumeric',
  countries: [],
  isDefault: false,
  createdAt: 0,
  updatedAt: 0,
});

test('a tenant’s senders are read once per period, and at once after forget', async () => {
  const store = new RegistryInMemory();
  let now = 0;
  const directory = new SenderDirectory(store, 1_000, () => now);
  assert.deepEqual(await directory.senders('shop'), []);
  await store.putSender(record('SHOP'));
  assert.deepEqual(await directory.senders('shop'), [], 'still the remembered list');
  assert.equal(store.reads, 1);
  directory.forget('shop');
  assert.deepEqual(
    (await directory.senders('shop')).map((s) => s.sender),
    ['SHOP'],
  );
  now = 1_000;
  await directory.senders('shop');
  assert.equal(store.reads, 3, 'read again once the period is over');
});

test('while the store is down the last list read stands; a tenant never read gets the error', async () => {
  const store = new RegistryInMemory();
  await store.putSender(record('SHOP'));
  let now = 0;
  const directory = new SenderDirectory(store, 1_000, () => now);
  await directory.senders('shop');
  store.down = true;
  now = 5_000;
  assert.deepEqual(
    (await directory.senders('shop')).map((s) => s.sender),
    ['SHOP'],
  );
  await assert.rejects(directory.senders('new-tenant'), (err) => err instanceof PigeonError);
  store.down = false;
  assert.deepEqual(await directory.senders('new-tenant'), [], 'a failed read is not remembered');
});
