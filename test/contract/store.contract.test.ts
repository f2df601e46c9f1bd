/**
 * The Store contract for messages and their history (migrations, the merge of patches, replays,
 * batches, rejected data), run against both implementations. The other record kinds have their
 * own store-*.contract.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isPigeonError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type {
  MessageEventRecord,
  MessagePatch,
  MessageRecord,
  WriteBatch,
} from '../../core/store/kinds/messages.ts';
import type { Store } from '../../core/store/store.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

interface Step {
  patch: MessagePatch;
  event: MessageEventRecord;
}

interface Lifecycle {
  messageId: string;
  tenantId: string;
  requested: Step;
  submitted: Step;
  pending: Step;
  delivered: Step;
  /** In the order the events happened. */
  steps: Step[];
}

function step(
  patch: MessagePatch & { tenantId: string },
  type: MessageEventRecord['type'],
  detail: Record<string, unknown> | null = null,
): Step {
  return {
    patch,
    event: {
      eventId: newId(),
      messageId: patch.id,
      tenantId: patch.tenantId,
      type,
      status: patch.status,
      provider: patch.provider ?? null,
      providerMessageId: patch.providerMessageId ?? null,
      detail: detail && JSON.stringify(detail),
      occurredAt: patch.updatedAt,
    },
  };
}

/** A one-part OTP that is requested, submitted to `acme`, reported pending, then delivered. */
function lifecycle(tenantId = 'tenant-a', messageId = newId()): Lifecycle {
  const id = messageId;
  const requested = step(
    {
      id,
      tenantId,
      status: 'queued',
      updatedAt: T0,
      recipient: '+447700900123',
      sender: 'Pigeon',
      messageClass: 'otp',
      lane: 'high',
      body: 'Your sign-in code is on its way',
      segments: 1,
      encoding: 'GSM-7',
      country: 'GB',
      batchId: null,
      queuedAt: T0,
    },
    'message.requested',
  );
  const submitted = step(
    {
      id,
      tenantId,
      status: 'submitted',
      updatedAt: T0 + 150,
      provider: 'acme',
      providerMessageId: 'acme-42',
      cost: 0.0125,
      segments: 1,
      submittedAt: T0 + 150,
    },
    'message.submitted',
    { attempt: 1, latencyMs: 140 },
  );
  const pending = step(
    { id, tenantId, status: 'unknown', updatedAt: T0 + 900, provider: 'acme', providerMessageId: 'acme-42' },
    'receipt.received',
    { providerStatus: 'ENROUTE' },
  );
  const delivered = step(
    {
      id,
      tenantId,
      status: 'delivered',
      updatedAt: T0 + 2000,
      provider: 'acme',
      providerMessageId: 'acme-42',
      finalAt: T0 + 2000,
    },
    'receipt.received',
    { providerStatus: 'DELIVRD' },
  );
  const steps = [requested, submitted, pending, delivered];
  return { messageId: id, tenantId, requested, submitted, pending, delivered, steps };
}

function batchOf(...steps: Step[]): WriteBatch {
  return { messages: steps.map((s) => s.patch), events: steps.map((s) => s.event) };
}

function messageContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract`, () => {
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    test('migrating an up-to-date database again changes nothing', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(m.requested));
      await store.migrate();
      await store.migrate();
      assert.equal((await store.getMessage(m.tenantId, m.messageId))?.status, 'queued');
      assert.equal((await store.listEvents(m.tenantId, m.messageId)).length, 1);
    });

    test('several processes migrating a fresh database at once all succeed', async () => {
      const fresh = await makeTarget();
      const stores = [fresh.open(), fresh.open(), fresh.open()];
      try {
        await Promise.all(stores.map((s) => s.migrate()));
        const m = lifecycle();
        await stores[1]!.writeBatch(batchOf(...m.steps));
        assert.equal((await stores[2]!.getMessage(m.tenantId, m.messageId))?.status, 'delivered');
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await fresh.dispose();
      }
    });

    test('the larger segment count wins whichever event arrives first', async () => {
      for (const order of ['request first', 'submission first']) {
        const m = lifecycle();
        // The provider billed two parts where the gateway counted one.
        const billed = { ...m.submitted, patch: { ...m.submitted.patch, segments: 2 } };
        const steps = order === 'request first' ? [m.requested, billed] : [billed, m.requested];
        for (const s of steps) await store.writeBatch(batchOf(s));
        assert.equal((await store.getMessage(m.tenantId, m.messageId))?.segments, 2, order);
      }
    });

    test('requested, submitted, pending and delivered in order give the full delivered record', async () => {
      const m = lifecycle();
      for (const s of m.steps) await store.writeBatch(batchOf(s));
      const expected: MessageRecord = {
        id: m.messageId,
        tenantId: m.tenantId,
        recipient: '+447700900123',
        sender: 'Pigeon',
        messageClass: 'otp',
        lane: 'high',
        body: 'Your sign-in code is on its way',
        segments: 1,
        encoding: 'GSM-7',
        country: 'GB',
        batchId: null,
        clientRef: null,
        metadata: null,
        campaignId: null,
        status: 'delivered',
        provider: 'acme',
        providerMessageId: 'acme-42',
        cost: 0.0125,
        errorCode: null,
        queuedAt: T0,
        submittedAt: T0 + 150,
        finalAt: T0 + 2000,
        updatedAt: T0 + 2000,
      };
      assert.deepEqual(await store.getMessage(m.tenantId, m.messageId), expected);
    });

    test("the client's reference and labels are stored with the request and survive later events", async () => {
      const m = lifecycle();
      const requested = {
        ...m.requested,
        patch: { ...m.requested.patch, clientRef: 'order-4711', metadata: { userId: 'u-42', note: 'ünï ✓' } },
      };
      // The receipt first: its patch carries neither, and must not blank what the request stores.
      for (const s of [m.delivered, requested, m.submitted]) await store.writeBatch(batchOf(s));
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.clientRef, 'order-4711');
      assert.deepEqual(row?.metadata, { userId: 'u-42', note: 'ünï ✓' });
      assert.equal(row?.status, 'delivered');
    });

    test('a failure records its error code and final time', async () => {
      const m = lifecycle();
      const failed = step(
        {
          id: m.messageId,
          tenantId: m.tenantId,
          status: 'failed',
          updatedAt: T0 + 300,
          errorCode: 'ROUTE_BLOCKED',
        },
        'message.failed',
        { errorClass: 'permanent', reason: 'destination blocked' },
      );
      failed.patch.finalAt = T0 + 300;
      await store.writeBatch(batchOf(m.requested, failed));
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.status, 'failed');
      assert.equal(row?.errorCode, 'ROUTE_BLOCKED');
      assert.equal(row?.finalAt, T0 + 300);
      assert.equal(row?.provider, null);
    });

    test('any order, replays and batching of the events converge to the in-order row', async () => {
      const reference = lifecycle();
      for (const s of reference.steps) await store.writeBatch(batchOf(s));
      const expected = await store.getMessage(reference.tenantId, reference.messageId);
      assert.ok(expected);

      const n = reference.steps.length;
      const deliveries = fc.record({
        order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
        replays: fc.array(fc.record({ step: fc.nat(n - 1), at: fc.nat() }), { maxLength: 4 }),
        batchSizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2 * n, maxLength: 2 * n }),
      });
      await fc.assert(
        fc.asyncProperty(deliveries, async ({ order, replays, batchSizes }) => {
          const m = lifecycle(reference.tenantId);
          const sequence = order.map((i) => m.steps[i]!);
          for (const r of replays) sequence.splice(r.at % (sequence.length + 1), 0, m.steps[r.step]!);
          let next = 0;
          for (const size of batchSizes) {
            if (next >= sequence.length) break;
            await store.writeBatch(batchOf(...sequence.slice(next, next + size)));
            next += size;
          }
          if (next < sequence.length) await store.writeBatch(batchOf(...sequence.slice(next)));

          const row = await store.getMessage(m.tenantId, m.messageId);
          assert.deepEqual({ ...row, id: reference.messageId }, expected);
          assert.equal((await store.listEvents(m.tenantId, m.messageId)).length, n);
        }),
        { numRuns: 30 },
      );
    });

    test('a late submitted never overwrites delivered', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(m.requested, m.delivered));
      const late = { ...m.submitted, patch: { ...m.submitted.patch, updatedAt: T0 + 9000 } };
      await store.writeBatch(batchOf(late));
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.status, 'delivered');
      assert.equal(row?.finalAt, T0 + 2000);
      assert.equal(row?.submittedAt, T0 + 150);
      assert.equal(row?.cost, 0.0125);
      assert.equal(row?.updatedAt, T0 + 9000);
    });

    test('a receipt before its request creates the row, which the request then completes', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(m.delivered));
      const early = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(early?.status, 'delivered');
      assert.equal(early?.recipient, '');
      assert.equal(early?.messageClass, 'transactional');
      assert.equal(early?.queuedAt, null);
      assert.equal(early?.finalAt, T0 + 2000);

      await store.writeBatch(batchOf(m.requested));
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.status, 'delivered');
      assert.equal(row?.recipient, '+447700900123');
      assert.equal(row?.messageClass, 'otp');
      assert.equal(row?.lane, 'high');
      assert.equal(row?.body, 'Your sign-in code is on its way');
      assert.equal(row?.queuedAt, T0);
      assert.equal(row?.updatedAt, T0 + 2000);
    });

    test('a receipt that does not name its tenant stays hidden until the request does', async () => {
      const m = lifecycle();
      const { tenantId: _omitted, ...anonymous } = m.delivered.patch;
      await store.writeBatch({ messages: [anonymous], events: [] });
      assert.equal(await store.getMessage(m.tenantId, m.messageId), undefined);
      await store.writeBatch(batchOf(m.requested));
      assert.equal((await store.getMessage(m.tenantId, m.messageId))?.status, 'delivered');
    });

    test('patches for one message twice in the same batch both apply', async () => {
      const m = lifecycle();
      await store.writeBatch({
        messages: [m.delivered.patch, m.requested.patch, m.submitted.patch, m.delivered.patch],
        events: [m.delivered.event, m.delivered.event],
      });
      const row = await store.getMessage(m.tenantId, m.messageId);
      assert.equal(row?.status, 'delivered');
      assert.equal(row?.recipient, '+447700900123');
      assert.equal(row?.provider, 'acme');
      assert.equal(row?.queuedAt, T0);
      assert.equal((await store.listEvents(m.tenantId, m.messageId)).length, 1);
    });

    test('replayed events add no rows and leave the message as it was', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(...m.steps));
      const first = await store.getMessage(m.tenantId, m.messageId);
      await store.writeBatch(batchOf(...m.steps));
      await store.writeBatch(batchOf(m.submitted, m.requested));
      assert.deepEqual(await store.getMessage(m.tenantId, m.messageId), first);
      assert.deepEqual(
        (await store.listEvents(m.tenantId, m.messageId)).map((e) => e.eventId),
        m.steps.map((s) => s.event.eventId),
      );
    });

    test('another tenant cannot read a message or its history by id', async () => {
      const m = lifecycle('tenant-a');
      await store.writeBatch(batchOf(...m.steps));
      assert.equal(await store.getMessage('tenant-b', m.messageId), undefined);
      assert.equal(await store.getMessage('TENANT-A', m.messageId), undefined);
      assert.deepEqual(await store.listEvents('tenant-b', m.messageId), []);
      assert.ok(await store.getMessage('tenant-a', m.messageId));
    });

    test('an unknown message reads as undefined with no history', async () => {
      assert.equal(await store.getMessage('tenant-a', newId()), undefined);
      assert.deepEqual(await store.listEvents('tenant-a', newId()), []);
    });

    test('history lists oldest first whatever order it was written in', async () => {
      const m = lifecycle();
      await store.writeBatch(batchOf(...[...m.steps].reverse()));
      const events = await store.listEvents(m.tenantId, m.messageId);
      assert.deepEqual(
        events,
        m.steps.map((s) => s.event),
      );
    });

    test('an empty batch is accepted', async () => {
      await store.writeBatch({ messages: [], events: [] });
    });

    test('a batch that fails leaves none of its rows behind and is not reported as an outage', async () => {
      const m = lifecycle();
      const broken = { ...m.submitted.event, type: null } as unknown as MessageEventRecord;
      await assert.rejects(
        store.writeBatch({ messages: [m.requested.patch], events: [m.requested.event, broken] }),
        (err: unknown) => !(isPigeonError(err) && err.code === 'PIGEON_ERR_STORE_UNAVAILABLE'),
      );
      assert.equal(await store.getMessage(m.tenantId, m.messageId), undefined);
      assert.deepEqual(await store.listEvents(m.tenantId, m.messageId), []);
      assert.equal(await store.ping(), true);
    });

    test('a value the database refuses is reported as rejected data, not as an outage', async () => {
      const m = lifecycle();
      const broken = { ...m.requested.event, type: null } as unknown as MessageEventRecord;
      await assert.rejects(
        store.writeBatch({ messages: [m.requested.patch], events: [broken] }),
        (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_STORE_REJECTED' && !err.retriable,
      );
    });

    test('ping reports a reachable store', async () => {
      assert.equal(await store.ping(), true);
    });
  });
}

againstEveryStore(messageContract);
