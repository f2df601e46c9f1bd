/** The Store contract for suppressions, opt-out settings and inbound SMS, run against both implementations. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId } from '../../core/ids.ts';
import { ALL_SENDERS, DEFAULT_KEYWORDS, type OptOutSettings } from '../../core/opt-out.ts';
import type { InboundRecord } from '../../core/store/kinds/inbound.ts';
import type { SuppressionRecord } from '../../core/store/kinds/suppressions.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;
const SENDER = '+15005550006';

function suppression(overrides: Partial<SuppressionRecord> = {}): SuppressionRecord {
  return {
    tenantId: 'tenant-a',
    phone: '+447400123456',
    sender: SENDER,
    reason: 'keyword',
    createdAt: T0,
    ...overrides,
  };
}

function inbound(overrides: Partial<InboundRecord> = {}): InboundRecord {
  return {
    id: newId(),
    tenantId: 'tenant-a',
    provider: 'twilio-main',
    providerMessageId: `SM${newId()}`,
    from: '+447400123456',
    to: SENDER,
    body: 'STOP',
    parts: 1,
    keyword: 'stop',
    inReplyTo: null,
    receivedAt: T0,
    ...overrides,
  };
}

function optOutContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: suppressions and inbound SMS`, () => {
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    test('a suppression is kept once per (number, sender); a second add keeps the first reason and time', async () => {
      await store.putSuppressions([suppression()]);
      await store.putSuppressions([
        suppression({ reason: 'api', createdAt: T0 + 5 }),
        suppression({ sender: ALL_SENDERS, reason: 'keyword' }),
      ]);
      assert.deepEqual(
        await store.suppressionScopes('tenant-a', '+447400123456'),
        [ALL_SENDERS, SENDER].sort(),
      );
      const listed = await store.listSuppressions('tenant-a', { limit: 10 });
      assert.deepEqual(
        listed.find((s) => s.sender === SENDER),
        suppression(),
      );
      assert.deepEqual(await store.suppressionScopes('tenant-b', '+447400123456'), [], 'per tenant');
    });

    test('removing one sender leaves the others; removing without a sender clears the number', async () => {
      const phone = '+447400200000';
      await store.putSuppressions([
        suppression({ phone }),
        suppression({ phone, sender: 'ACME' }),
        suppression({ phone, sender: ALL_SENDERS }),
      ]);
      assert.equal(await store.deleteSuppressions('tenant-a', phone, 'ACME'), 1);
      assert.deepEqual(await store.suppressionScopes('tenant-a', phone), [ALL_SENDERS, SENDER].sort());
      assert.equal(await store.deleteSuppressions('tenant-a', phone), 2);
      assert.deepEqual(await store.suppressionScopes('tenant-a', phone), []);
      assert.equal(await store.deleteSuppressions('tenant-a', phone), 0);
    });

    test('a large import lands whole, and the listing pages through it in (number, sender) order', async () => {
      const tenantId = 'tenant-import';
      const records = Array.from({ length: 1_203 }, (_, i) =>
        suppression({ tenantId, phone: `+4474${String(i).padStart(8, '0')}`, reason: 'import' }),
      );
      await store.putSuppressions(records);
      const seen: SuppressionRecord[] = [];
      let after: { phone: string; sender: string } | undefined;
      for (;;) {
        const page = await store.listSuppressions(tenantId, { limit: 500, ...(after ? { after } : {}) });
        seen.push(...page);
        if (page.length < 500) break;
        const last = page.at(-1)!;
        after = { phone: last.phone, sender: last.sender };
      }
      assert.deepEqual(seen, records);
    });

    test('opt-out settings round-trip per tenant', async () => {
      const settings: OptOutSettings = {
        keywords: { ...DEFAULT_KEYWORDS, stop: ['ARRET', '退订'] },
        replies: { help: 'Acme: reply STOP to opt out. Help: acme.example/help' },
      };
      assert.equal(await store.getOptOutSettings('tenant-a'), undefined);
      await store.putOptOutSettings('tenant-a', settings, T0);
      await store.putOptOutSettings('tenant-a', settings, T0 + 1);
      assert.deepEqual(await store.getOptOutSettings('tenant-a'), settings);
      assert.equal(await store.getOptOutSettings('tenant-b'), undefined);
    });

    test('an inbound SMS is stored once per provider id and listed newest first, per tenant', async () => {
      const first = inbound({ body: '退订 谢谢', keyword: null });
      const second = inbound({ keyword: 'stop', inReplyTo: newId() });
      assert.equal(await store.insertInbound(first), true);
      assert.equal(await store.insertInbound(second), true);
      assert.equal(await store.insertInbound({ ...first, id: newId() }), false, 'a webhook retry');
      await store.insertInbound(inbound({ tenantId: 'tenant-b' }));
      assert.deepEqual(await store.listInbound('tenant-a', { limit: 10 }), [second, first]);
      assert.deepEqual(await store.listInbound('tenant-a', { limit: 10, before: second.id }), [first]);
      assert.deepEqual(await store.listInbound('tenant-a', { limit: 1 }), [second]);
    });

    test('a sender belongs to the tenant that registered it first', async () => {
      await store.putSender({
        tenantId: 'tenant-late',
        sender: '72345',
        kind: 'short_code',
        countries: [],
        isDefault: false,
        createdAt: T0 + 10,
        updatedAt: T0 + 10,
      });
      await store.putSender({
        tenantId: 'tenant-early',
        sender: '72345',
        kind: 'short_code',
        countries: [],
        isDefault: false,
        createdAt: T0,
        updatedAt: T0,
      });
      assert.equal(await store.tenantOfSender('72345'), 'tenant-early');
      assert.equal(await store.tenantOfSender('99999'), undefined);
    });

    test('the message a reply answers is the newest sent to that number from that sender', async () => {
      const older = newId();
      const newer = newId();
      const otherSender = newId();
      const patch = (id: string, sender: string) => ({
        id,
        status: 'submitted' as const,
        updatedAt: T0,
        tenantId: 'tenant-a',
        recipient: '+447400555666',
        sender,
      });
      await store.writeBatch({
        messages: [patch(older, SENDER), patch(newer, SENDER), patch(otherSender, 'ACME')],
        events: [],
      });
      assert.equal(await store.lastMessageTo('tenant-a', '+447400555666', SENDER), newer);
      assert.equal(await store.lastMessageTo('tenant-a', '+447400555666', 'OTHER'), undefined);
      assert.equal(await store.lastMessageTo('tenant-b', '+447400555666', SENDER), undefined);
    });
  });
}

againstEveryStore(optOutContract);
