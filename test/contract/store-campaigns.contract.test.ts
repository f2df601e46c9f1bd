/** The Store contract for bulk campaigns, run against both implementations. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newId } from '../../core/ids.ts';
import type { CampaignRecipient, CampaignRecord } from '../../core/store/kinds/campaigns.ts';
import type { MessagePatch } from '../../core/store/kinds/messages.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

function campaign(overrides: Partial<CampaignRecord> = {}): CampaignRecord {
  return {
    tenantId: 'tenant-a',
    id: newId(T0),
    name: 'spring sale',
    state: 'draft',
    templateId: '01JTEMPLATE0000000000000001',
    body: null,
    messageClass: 'marketing',
    locale: 'zh-CN',
    variables: { shop: 'Pigeon 鸽子 😀' },
    from: 'PIGEON',
    sendAt: T0 + 3_600_000,
    firstSendAt: T0 + 3_600_000,
    timeZone: 'Asia/Shanghai',
    recurrence: 'weekly',
    rateCap: 50,
    recipientCount: 0,
    invalidCount: 0,
    estimatedCost: null,
    nextRow: 0,
    run: 0,
    idempotencyKey: null,
    requestHash: null,
    createdBy: 'key-1',
    approvedBy: null,
    leaseOwner: null,
    leaseUntil: null,
    createdAt: T0,
    updatedAt: T0,
    startedAt: null,
    finishedAt: null,
    ...overrides,
  };
}

function recipients(from: number, n: number): CampaignRecipient[] {
  return Array.from({ length: n }, (_, i): CampaignRecipient => ({
    rowNo: from + i,
    to: `+1415555${String(from + i).padStart(4, '0')}`,
    variables: (from + i) % 2 === 0 ? { name: `Ana ${from + i}`, note: 'a "quoted"\nline' } : {},
    clientRef: (from + i) % 3 === 0 ? null : `ref-${from + i}`,
  }));
}

function campaignContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: campaigns`, () => {
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    test('a campaign round-trips with every field, for its tenant only', async () => {
      const record = campaign({ idempotencyKey: 'key-rt', requestHash: 'a'.repeat(64), estimatedCost: 12.5 });
      assert.equal(await store.createCampaign(record), true);
      assert.deepEqual(await store.getCampaign('tenant-a', record.id), record);
      assert.equal(await store.getCampaign('tenant-b', record.id), undefined);
      const plain = campaign({
        templateId: null,
        body: 'Hi',
        locale: null,
        variables: {},
        from: null,
        sendAt: null,
        timeZone: null,
        recurrence: null,
        rateCap: null,
      });
      await store.createCampaign(plain);
      assert.deepEqual(await store.getCampaign('tenant-a', plain.id), plain);
    });

    test('an idempotency key is one campaign per tenant, found by the key', async () => {
      const first = campaign({ tenantId: 'tenant-i', idempotencyKey: 'retry-me' });
      assert.equal(await store.createCampaign(first), true);
      assert.equal(
        await store.createCampaign(campaign({ tenantId: 'tenant-i', idempotencyKey: 'retry-me' })),
        false,
      );
      assert.equal(
        await store.createCampaign(campaign({ tenantId: 'tenant-j', idempotencyKey: 'retry-me' })),
        true,
      );
      // Campaigns without a key never collide.
      assert.equal(await store.createCampaign(campaign({ tenantId: 'tenant-i' })), true);
      assert.equal(await store.createCampaign(campaign({ tenantId: 'tenant-i' })), true);
      assert.equal((await store.findCampaignByIdempotencyKey('tenant-i', 'retry-me'))?.id, first.id);
      assert.equal(await store.findCampaignByIdempotencyKey('tenant-i', 'other'), undefined);
    });

    test('campaigns are listed newest first, a page before a given id', async () => {
      const ids = [1, 2, 3, 4, 5].map((i) => newId(T0 + i * 1000));
      for (const id of ids) await store.createCampaign(campaign({ tenantId: 'tenant-l', id }));
      await store.createCampaign(campaign({ tenantId: 'tenant-other' }));
      const first = await store.listCampaigns('tenant-l', { limit: 2 });
      assert.deepEqual(
        first.map((c) => c.id),
        [ids[4], ids[3]],
      );
      const rest = await store.listCampaigns('tenant-l', { limit: 10, before: ids[3]! });
      assert.deepEqual(
        rest.map((c) => c.id),
        [ids[2], ids[1], ids[0]],
      );
    });

    test('a state change is a compare-and-set: of two racing transitions exactly one wins', async () => {
      const record = campaign({ tenantId: 'tenant-s' });
      await store.createCampaign(record);
      const results = await Promise.all([
        store.transitionCampaign('tenant-s', record.id, ['draft'], 'scheduled', T0 + 1, {
          estimatedCost: 3.25,
        }),
        store.transitionCampaign('tenant-s', record.id, ['draft'], 'pending_approval', T0 + 1),
      ]);
      assert.deepEqual(results.filter(Boolean).length, 1, 'exactly one transition from draft succeeds');
      const stored = await store.getCampaign('tenant-s', record.id);
      assert.equal(stored?.state, results[0] ? 'scheduled' : 'pending_approval');
      assert.equal(stored?.updatedAt, T0 + 1);
      assert.equal(
        await store.transitionCampaign('tenant-other', record.id, [stored.state], 'cancelled', T0 + 2),
        false,
        'another tenant cannot move it',
      );
      assert.equal(
        await store.transitionCampaign(
          'tenant-s',
          record.id,
          ['scheduled', 'pending_approval'],
          'running',
          T0 + 3,
          {
            startedAt: T0 + 3,
            approvedBy: 'key-approver',
            run: 0,
            nextRow: 0,
          },
        ),
        true,
      );
      const running = await store.getCampaign('tenant-s', record.id);
      assert.equal(running?.state, 'running');
      assert.equal(running?.startedAt, T0 + 3);
      assert.equal(running?.approvedBy, 'key-approver');
      assert.equal(await store.transitionCampaign('tenant-s', record.id, [], 'paused', T0 + 4), false);
    });

    test('counts are set on a draft only', async () => {
      const record = campaign({ tenantId: 'tenant-c' });
      await store.createCampaign(record);
      assert.equal(
        await store.setCampaignCounts(
          'tenant-c',
          record.id,
          { recipientCount: 7, invalidCount: 2, estimatedCost: 0.35 },
          T0 + 1,
        ),
        true,
      );
      const stored = await store.getCampaign('tenant-c', record.id);
      assert.deepEqual([stored?.recipientCount, stored?.invalidCount, stored?.estimatedCost], [7, 2, 0.35]);
      await store.transitionCampaign('tenant-c', record.id, ['draft'], 'scheduled', T0 + 2);
      assert.equal(
        await store.setCampaignCounts(
          'tenant-c',
          record.id,
          { recipientCount: 9, invalidCount: 0, estimatedCost: null },
          T0 + 3,
        ),
        false,
      );
      assert.equal((await store.getCampaign('tenant-c', record.id))?.recipientCount, 7);
    });

    test('a lease is held by one owner until it runs out, then another may take it', async () => {
      const record = campaign({ tenantId: 'tenant-lease', state: 'running' });
      await store.createCampaign(record);
      assert.equal(await store.leaseCampaign('tenant-lease', record.id, 'w1', T0, T0 + 30_000), true);
      assert.equal(await store.leaseCampaign('tenant-lease', record.id, 'w2', T0 + 1000, T0 + 31_000), false);
      assert.equal(await store.leaseCampaign('tenant-lease', record.id, 'w1', T0 + 1000, T0 + 40_000), true);
      assert.equal(
        await store.leaseCampaign('tenant-lease', record.id, 'w2', T0 + 40_001, T0 + 70_000),
        true,
      );
      assert.equal((await store.getCampaign('tenant-lease', record.id))?.leaseOwner, 'w2');
      assert.equal(await store.releaseCampaign('tenant-lease', record.id, 'w1'), false);
      assert.equal(await store.releaseCampaign('tenant-lease', record.id, 'w2'), true);
      const released = await store.getCampaign('tenant-lease', record.id);
      assert.deepEqual([released?.leaseOwner, released?.leaseUntil], [null, null]);
    });

    test('the checkpoint advances only from where it is, and only while running', async () => {
      const record = campaign({ tenantId: 'tenant-cp', state: 'running' });
      await store.createCampaign(record);
      assert.equal(
        await store.advanceCampaign(
          'tenant-cp',
          record.id,
          { run: 0, nextRow: 0 },
          { run: 0, nextRow: 500 },
          T0 + 1,
        ),
        true,
      );
      assert.equal(
        await store.advanceCampaign(
          'tenant-cp',
          record.id,
          { run: 0, nextRow: 0 },
          { run: 0, nextRow: 500 },
          T0 + 2,
        ),
        false,
        'a second runner with the stale checkpoint is refused',
      );
      await store.transitionCampaign('tenant-cp', record.id, ['running'], 'paused', T0 + 3);
      assert.equal(
        await store.advanceCampaign(
          'tenant-cp',
          record.id,
          { run: 0, nextRow: 500 },
          { run: 0, nextRow: 1000 },
          T0 + 4,
        ),
        false,
        'a paused campaign does not advance',
      );
      const stored = await store.getCampaign('tenant-cp', record.id);
      assert.deepEqual([stored?.run, stored?.nextRow], [0, 500]);
    });

    test('due campaigns: scheduled ones whose time has come and running ones nobody holds', async () => {
      // The scan spans every tenant: only this test's campaigns (far in the past) are looked at.
      const past = T0 - 86_400_000;
      const due = campaign({ tenantId: 'tenant-d', state: 'scheduled', sendAt: past - 10 });
      const now = campaign({ tenantId: 'tenant-d', state: 'scheduled', sendAt: null });
      const later = campaign({ tenantId: 'tenant-d', state: 'scheduled', sendAt: past + 10 });
      const orphan = campaign({
        tenantId: 'tenant-e',
        state: 'running',
        sendAt: past - 20,
        leaseOwner: 'dead',
        leaseUntil: past - 1,
      });
      const held = campaign({
        tenantId: 'tenant-e',
        state: 'running',
        sendAt: past - 30,
        leaseOwner: 'w',
        leaseUntil: past + 5000,
      });
      const draft = campaign({ tenantId: 'tenant-e', state: 'draft', sendAt: past - 40 });
      for (const c of [due, now, later, orphan, held, draft]) await store.createCampaign(c);
      const found = (await store.dueCampaigns(past, 100)).filter((c) => c.tenantId.match(/^tenant-[de]$/));
      assert.deepEqual(new Set(found.map((c) => c.id)), new Set([due.id, now.id, orphan.id]));
      assert.equal((await store.dueCampaigns(past, 1)).length, 1);
    });

    test('recipient rows are read back by range, in order, with variables and client refs', async () => {
      const id = newId();
      await store.appendRecipients(id, recipients(0, 700));
      await store.appendRecipients(id, recipients(700, 300));
      await store.appendRecipients(newId(), recipients(0, 5));
      const page = await store.readRecipients(id, 495, 10);
      assert.deepEqual(page, recipients(495, 10));
      assert.equal((await store.readRecipients(id, 990, 100)).length, 10);
      assert.deepEqual(await store.readRecipients(id, 1000, 10), []);
      await store.appendRecipients(id, [
        { rowNo: 3, to: '+14155550000', variables: { x: 'y' }, clientRef: 'again' },
      ]);
      assert.deepEqual((await store.readRecipients(id, 3, 1))[0], {
        rowNo: 3,
        to: '+14155550000',
        variables: { x: 'y' },
        clientRef: 'again',
      });
      await store.clearRecipients(id);
      assert.deepEqual(await store.readRecipients(id, 0, 10), []);
    });

    test('refused rows are listed in row order and cleared with the recipients', async () => {
      const id = newId();
      await store.appendRowErrors(id, [
        { row: 9, code: 'PIGEON_ERR_INVALID_NUMBER', reason: 'not a phone number: "12"' },
        { row: 2, code: 'PIGEON_ERR_MISSING_VARIABLES', reason: 'missing variable name' },
        { row: 5, code: 'PIGEON_ERR_CSV_ROW_TOO_LARGE', reason: 'r'.repeat(2000) },
      ]);
      const all = await store.listRowErrors(id, { limit: 10 });
      assert.deepEqual(
        all.map((e) => [e.row, e.code]),
        [
          [2, 'PIGEON_ERR_MISSING_VARIABLES'],
          [5, 'PIGEON_ERR_CSV_ROW_TOO_LARGE'],
          [9, 'PIGEON_ERR_INVALID_NUMBER'],
        ],
      );
      assert.equal(all[1]?.reason.length, 512, 'a long reason is cut to the column');
      assert.deepEqual(
        (await store.listRowErrors(id, { limit: 1, after: 2 })).map((e) => e.row),
        [5],
      );
      await store.clearRecipients(id);
      assert.deepEqual(await store.listRowErrors(id, { limit: 10 }), []);
    });

    test('a campaign’s messages are counted by status and reason, and listed by id', async () => {
      const campaignId = newId();
      const base: MessagePatch[] = [
        ...Array.from({ length: 3 }, (): MessagePatch => ({
          id: newId(),
          status: 'delivered',
          updatedAt: T0,
        })),
        { id: newId(), status: 'skipped', errorCode: 'OPTED_OUT', updatedAt: T0 },
        { id: newId(), status: 'skipped', errorCode: 'OPTED_OUT', updatedAt: T0 },
        { id: newId(), status: 'failed', errorCode: 'INVALID_NUMBER', updatedAt: T0 },
        { id: newId(), status: 'queued', updatedAt: T0 },
      ];
      const patches = base.map((p, i): MessagePatch => ({
        ...p,
        tenantId: 'tenant-m',
        recipient: `+4477009001${String(i).padStart(2, '0')}`,
        campaignId,
        clientRef: `r${i}`,
      }));
      const outside: MessagePatch = { id: newId(), status: 'delivered', updatedAt: T0, tenantId: 'tenant-m' };
      await store.writeBatch({ messages: [...patches, outside], events: [] });
      assert.deepEqual(await store.campaignStatusCounts('tenant-m', campaignId), [
        { status: 'delivered', errorCode: null, count: 3 },
        { status: 'failed', errorCode: 'INVALID_NUMBER', count: 1 },
        { status: 'queued', errorCode: null, count: 1 },
        { status: 'skipped', errorCode: 'OPTED_OUT', count: 2 },
      ]);
      assert.equal((await store.getMessage('tenant-m', patches[0]!.id))?.campaignId, campaignId);
      assert.equal((await store.getMessage('tenant-m', outside.id))?.campaignId, null);
      const first = await store.listCampaignMessages('tenant-m', campaignId, { limit: 4 });
      const rest = await store.listCampaignMessages('tenant-m', campaignId, {
        limit: 10,
        after: first.at(-1)!.id,
      });
      const ids = [...first, ...rest].map((m) => m.id);
      assert.deepEqual(ids, patches.map((p) => p.id).sort());
      assert.equal(first[0]?.to, patches[0]?.recipient);
      assert.equal(first[0]?.clientRef, 'r0');
      assert.deepEqual(await store.listCampaignMessages('tenant-x', campaignId, { limit: 10 }), []);
    });

    test('a campaign’s unsettled messages are counted apart, and its stored ids looked up', async () => {
      const campaignId = newId();
      const other = newId();
      const statuses = ['queued', 'queued', 'submitted', 'delivered', 'failed', 'queued'] as const;
      const patches = statuses.map((status, i): MessagePatch => ({
        id: newId(),
        status,
        updatedAt: T0,
        tenantId: 'tenant-u',
        recipient: `+4477009002${String(i).padStart(2, '0')}`,
        campaignId: i === 5 ? other : campaignId,
      }));
      assert.deepEqual(await store.campaignUnsettledCounts(campaignId), { queued: 0, submitted: 0 });
      await store.writeBatch({ messages: patches, events: [] });
      assert.deepEqual(await store.campaignUnsettledCounts(campaignId), { queued: 2, submitted: 1 });
      assert.deepEqual(await store.campaignUnsettledCounts(other), { queued: 1, submitted: 0 });

      // More ids than one lookup takes: unwritten ids and another campaign's are not among them.
      const unwritten = Array.from({ length: 1_500 }, () => newId());
      const asked = [...unwritten.slice(0, 1_200), ...patches.map((p) => p.id), ...unwritten.slice(1_200)];
      const stored = await store.storedCampaignMessageIds(campaignId, asked);
      assert.deepEqual(
        stored.sort(),
        patches
          .slice(0, 5)
          .map((p) => p.id)
          .sort(),
      );
      assert.deepEqual(await store.storedCampaignMessageIds(campaignId, []), []);
    });

    test('approval thresholds are stored per tenant and replaced whole', async () => {
      assert.equal(await store.getCampaignApproval('tenant-ap'), undefined);
      await store.putCampaignApproval('tenant-ap', { maxRecipients: 10_000, maxCost: 250.5, updatedAt: T0 });
      assert.deepEqual(await store.getCampaignApproval('tenant-ap'), {
        maxRecipients: 10_000,
        maxCost: 250.5,
        updatedAt: T0,
      });
      await store.putCampaignApproval('tenant-ap', { maxRecipients: null, maxCost: 5, updatedAt: T0 + 1 });
      assert.deepEqual(await store.getCampaignApproval('tenant-ap'), {
        maxRecipients: null,
        maxCost: 5,
        updatedAt: T0 + 1,
      });
      assert.equal(await store.getCampaignApproval('tenant-other'), undefined);
    });
  });
}

againstEveryStore(campaignContract);
