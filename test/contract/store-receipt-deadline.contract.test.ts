/**
 * The Store contract for the receipt deadline's query (overdueReceipts), run against both
 * implementations: only messages still `submitted`, of the class asked for, submitted before the
 * cutoff, oldest first, in bounded pages that a cursor walks without repeats.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import type { MessageClass, PigeonEvent } from '../../core/message.ts';
import type { OverdueCursor, OverdueReceipt } from '../../core/store/kinds/messages.ts';
import type { Store } from '../../core/store/store.ts';
import { foldEvents } from '../../persister/src/fold.ts';
import { receiptDeadlineEvent } from '../../persister/src/receipt-deadline.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;
const MINUTE = 60_000;

/** A message's events up to `status`, submitted `submittedAt` (ms). */
function life(
  messageClass: MessageClass,
  submittedAt: number,
  status: 'queued' | 'submitted' | 'delivered' | 'failed',
  tenantId = 'tenant-a',
): { id: string; events: PigeonEvent[] } {
  const id = newId(submittedAt - 1000);
  const events: PigeonEvent[] = [
    {
      ...eventBase(id, tenantId, submittedAt - 1000),
      type: 'message.requested',
      to: '+14155550123',
      body: 'hello',
      class: messageClass,
      lane: messageClass === 'otp' ? 'high' : 'normal',
      segments: 1,
      encoding: 'GSM-7',
      expiresAt: new Date(submittedAt + 86_400_000).toISOString(),
      acceptDeadline: new Date(submittedAt).toISOString(),
    },
  ];
  if (status === 'queued') return { id, events };
  if (status === 'failed') {
    events.push({
      ...eventBase(id, tenantId, submittedAt),
      type: 'message.failed',
      status: 'failed',
      provider: 'sim-a',
      attempt: 1,
      errorClass: 'permanent',
      errorCode: 'INVALID_NUMBER',
      reason: 'refused',
    });
    return { id, events };
  }
  events.push({
    ...eventBase(id, tenantId, submittedAt),
    type: 'message.submitted',
    provider: 'sim-a',
    providerMessageId: `pm-${id}`,
    attempt: 1,
    segments: 1,
    cost: 0.0075,
    latencyMs: 40,
  });
  if (status === 'delivered') {
    events.push({
      ...eventBase(id, tenantId, submittedAt + 5000),
      type: 'receipt.received',
      provider: 'sim-a',
      providerMessageId: `pm-${id}`,
      status: 'delivered',
      providerStatus: 'DELIVRD',
    });
  }
  return { id, events };
}

async function write(store: Store, ...lives: Array<{ events: PigeonEvent[] }>): Promise<void> {
  await store.writeBatch(foldEvents(lives.flatMap((l) => l.events)));
}

/** Every overdue message of the class, page by page. */
async function allPages(store: Store, messageClass: MessageClass, before: number, limit: number) {
  const pages: OverdueReceipt[][] = [];
  let cursor: OverdueCursor | undefined;
  for (;;) {
    const page = await store.overdueReceipts({ messageClass, submittedBefore: before, limit, cursor });
    if (page.length > 0) pages.push(page);
    if (page.length < limit) return pages;
    const last = page.at(-1)!;
    cursor = { submittedAt: last.submittedAt, id: last.id };
  }
}

function receiptDeadlineContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`store receipt deadline: ${name}`, () => {
    let store: Store;
    migratedStore(makeTarget, (opened) => {
      store = opened.store;
    });

    test('finds only submitted messages of the class submitted before the cutoff, oldest first', async () => {
      const cutoff = T0 + 60 * MINUTE;
      const overdueLate = life('otp', T0 + 30 * MINUTE, 'submitted', 'tenant-b');
      const overdueEarly = life('otp', T0 + 10 * MINUTE, 'submitted');
      const notYet = life('otp', cutoff, 'submitted');
      const delivered = life('otp', T0, 'delivered');
      const failed = life('otp', T0, 'failed');
      const queued = life('otp', T0, 'queued');
      const otherClass = life('marketing', T0, 'submitted');
      await write(store, overdueLate, overdueEarly, notYet, delivered, failed, queued, otherClass);

      const found = await store.overdueReceipts({ messageClass: 'otp', submittedBefore: cutoff, limit: 10 });
      assert.deepEqual(found, [
        {
          id: overdueEarly.id,
          tenantId: 'tenant-a',
          messageClass: 'otp',
          submittedAt: T0 + 10 * MINUTE,
          attempt: 1,
        },
        {
          id: overdueLate.id,
          tenantId: 'tenant-b',
          messageClass: 'otp',
          submittedAt: T0 + 30 * MINUTE,
          attempt: 1,
        },
      ]);
      const marketing = await store.overdueReceipts({
        messageClass: 'marketing',
        submittedBefore: cutoff,
        limit: 10,
      });
      assert.deepEqual(
        marketing.map((m) => m.id),
        [otherClass.id],
      );
    });

    test('walks a backlog in bounded pages, each message once, including ties on the submission time', async () => {
      const at = T0 - 1000 * MINUTE;
      // Three share one submission time: the cursor must order them by id too.
      const lives = [
        ...Array.from({ length: 3 }, () => life('alert', at, 'submitted')),
        ...Array.from({ length: 4 }, (_, i) => life('alert', at + (i + 1) * MINUTE, 'submitted')),
      ];
      await write(store, ...lives);
      const pages = await allPages(store, 'alert', T0, 2);
      assert.ok(pages.every((page) => page.length <= 2));
      const tied = lives
        .slice(0, 3)
        .map((l) => l.id)
        .sort();
      assert.deepEqual(
        pages.flat().map((m) => m.id),
        [...tied, ...lives.slice(3).map((l) => l.id)],
      );
    });

    test('no longer finds a message once its deadline event is folded, and a late receipt still delivers it', async () => {
      const cutoff = T0 - 2000 * MINUTE;
      const stuck = life('transactional', cutoff - MINUTE, 'submitted');
      await write(store, stuck);
      const [found] = await store.overdueReceipts({
        messageClass: 'transactional',
        submittedBefore: cutoff,
        limit: 10,
      });
      assert.equal(found?.id, stuck.id);

      const deadline = receiptDeadlineEvent(found, 72 * 60 * MINUTE, Date.now());
      // Two sweeps made the same event: the history keeps one.
      await store.writeBatch(foldEvents([deadline]));
      await store.writeBatch(foldEvents([deadline]));
      assert.deepEqual(
        await store.overdueReceipts({ messageClass: 'transactional', submittedBefore: cutoff, limit: 10 }),
        [],
      );
      const ended = await store.getMessage('tenant-a', stuck.id);
      assert.equal(ended?.status, 'unknown');
      assert.equal(ended?.errorCode, 'receipt_deadline');
      const history = await store.listEvents('tenant-a', stuck.id);
      assert.equal(history.filter((e) => e.type === 'message.failed').length, 1);

      await write(store, {
        events: [
          {
            ...eventBase(stuck.id, 'tenant-a', Date.now()),
            type: 'receipt.received',
            provider: 'sim-a',
            providerMessageId: `pm-${stuck.id}`,
            status: 'delivered',
            providerStatus: 'DELIVRD',
          },
        ],
      });
      const late = await store.getMessage('tenant-a', stuck.id);
      assert.equal(late?.status, 'delivered');
      assert.equal(late?.errorCode, null);
    });
  });
}

againstEveryStore(receiptDeadlineContract);
