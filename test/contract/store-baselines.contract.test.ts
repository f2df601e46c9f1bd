/**
 * The Store contract for the monitor's memory — baselines kept between monitor processes and the
 * delivery totals its priors come from — run against both implementations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { idFloor, newId } from '../../core/ids.ts';
import type { BaselineRecord } from '../../core/store/kinds/baselines.ts';
import type { MessagePatch } from '../../core/store/kinds/messages.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

function baseline(overrides: Partial<BaselineRecord> = {}): BaselineRecord {
  return {
    key: 'delivered_rate{country=GB,provider=twilio}@60s',
    sum: 0.1234567890123,
    weight: 0.15,
    observedAt: T0,
    updatedAt: T0 + 1_000,
    ...overrides,
  };
}

/** An id made at `ms` (newId never goes back in time: it is monotonic within a process). */
const idAt = (ms: number) => idFloor(ms).slice(0, 10) + newId().slice(10);

/** A message accepted at `submittedAt` (its id carries that time) or just before T0. */
function message(overrides: Partial<MessagePatch>): MessagePatch {
  return {
    id: idAt(overrides.submittedAt ?? T0 - 10),
    status: 'submitted',
    updatedAt: T0,
    tenantId: 'tenant-a',
    recipient: '+447400123456',
    messageClass: 'transactional',
    country: 'GB',
    provider: 'twilio',
    submittedAt: T0,
    ...overrides,
  };
}

function baselineContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: monitor baselines`, () => {
    let store: Store;
    let target: StoreTarget;

    migratedStore(makeTarget, (opened) => ({ store, target } = opened));

    test('baselines round-trip exactly, one row per key, and another process reads them', async () => {
      const records = [
        baseline(),
        baseline({ key: 'delivered_rate{country=FR,provider=vonage}@900s', sum: 0.9, weight: 1 }),
        baseline({ key: 'otp_conversion_rate{country=GB,provider=twilio}@300s', sum: 0, weight: 0.5 }),
      ];
      await store.putBaselines(records);
      await store.putBaselines([records[0]!]);
      const other = target.open();
      try {
        assert.deepEqual(
          await other.listBaselines(),
          [...records].sort((a, b) => (a.key < b.key ? -1 : 1)),
        );
      } finally {
        await other.close();
      }
    });

    test('a later observation replaces a row; an earlier one (a monitor that lost its lease) does not', async () => {
      const key = 'delivered_rate{country=DE,provider=twilio}@60s';
      await store.putBaselines([baseline({ key, sum: 0.5, observedAt: T0 + 60_000 })]);
      await store.putBaselines([
        baseline({ key, sum: 0.7, weight: 0.9, observedAt: T0 + 90_000, updatedAt: T0 + 91_000 }),
      ]);
      await store.putBaselines([
        baseline({ key, sum: 0.1, observedAt: T0 + 30_000, updatedAt: T0 + 92_000 }),
      ]);
      const row = (await store.listBaselines()).find((b) => b.key === key);
      assert.deepEqual(
        row,
        baseline({ key, sum: 0.7, weight: 0.9, observedAt: T0 + 90_000, updatedAt: T0 + 91_000 }),
      );
    });

    test('many baselines are written in one call, and those not observed since a time are deleted', async () => {
      const many = Array.from({ length: 1_200 }, (_, i) =>
        baseline({ key: `delivered_rate{country=US,provider=p${i}}@60s`, observedAt: T0 - 10_000_000 + i }),
      );
      await store.putBaselines(many);
      assert.equal((await store.listBaselines()).filter((b) => b.key.includes('country=US')).length, 1_200);
      assert.equal(await store.deleteBaselines(T0 - 10_000_000 + 1_000), 1_000);
      const left = (await store.listBaselines()).filter((b) => b.key.includes('country=US'));
      assert.equal(left.length, 200);
      assert.ok(left.every((b) => b.observedAt >= T0 - 10_000_000 + 1_000));
    });

    test('delivery totals count messages accepted in the range per provider and country', async () => {
      const day = 86_400_000;
      const messages = [
        ...Array.from({ length: 8 }, () => message({ status: 'delivered', submittedAt: T0 - day + 5 })),
        ...Array.from({ length: 2 }, () => message({ status: 'undelivered', submittedAt: T0 - 5 })),
        message({ status: 'delivered', provider: 'vonage', country: 'FR', submittedAt: T0 - 1_000 }),
        // Outside the range, or never handed to a provider: not counted.
        message({ status: 'delivered', submittedAt: T0 }),
        message({ status: 'delivered', submittedAt: T0 - day - 1 }),
        message({ status: 'queued', provider: undefined, submittedAt: undefined }),
      ];
      await store.writeBatch({ messages, events: [] });
      const totals = await store.deliveryTotals({ since: T0 - day, until: T0 });
      assert.deepEqual(
        totals.sort((a, b) => (a.provider < b.provider ? -1 : 1)),
        [
          { provider: 'twilio', country: 'GB', submitted: 10, delivered: 8 },
          { provider: 'vonage', country: 'FR', submitted: 1, delivered: 1 },
        ],
      );
      assert.deepEqual(await store.deliveryTotals({ since: T0 + 1, until: T0 + day }), []);
    });
  });
}

againstEveryStore(baselineContract);
