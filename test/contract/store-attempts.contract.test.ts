/**
 * The Store contract for provider attempts, the convergence of whole event histories, and
 * retention, run against both implementations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { eventBase } from '../../core/events.ts';
import { idFloor, newId } from '../../core/ids.ts';
import type { MessageFailed, MessageSubmitted, PigeonEvent, ReceiptReceived } from '../../core/message.ts';
import type { AttemptRecord } from '../../core/store/kinds/messages.ts';
import type { Store } from '../../core/store/store.ts';
import { foldEvents } from '../../persister/src/fold.ts';
import { againstEveryStore, migratedStore, type StoreTarget } from '../support/store-targets.ts';

const T0 = 1_767_225_600_000;

/**
 * The persister's view of one OTP's life, as bus events: billed at acme, an ambiguous second try
 * at bravo, a third try refused by delta, a free fourth copy through charlie that is delivered,
 * and acme's late receipts.
 */
function failoverEvents(tenantId = 'tenant-a', messageId = newId()): PigeonEvent[] {
  const at = (ms: number) => eventBase(messageId, tenantId, T0 + ms);
  const submitted = (ms: number, fields: Partial<MessageSubmitted>): MessageSubmitted => ({
    ...at(ms),
    type: 'message.submitted',
    provider: 'acme',
    providerMessageId: 'acme-1',
    attempt: 1,
    segments: 1,
    cost: 0.0125,
    latencyMs: 40,
    country: 'GB',
    requestedAt: new Date(T0 + ms - 40).toISOString(),
    ...fields,
  });
  const receipt = (ms: number, fields: Partial<ReceiptReceived>): ReceiptReceived => ({
    ...at(ms),
    type: 'receipt.received',
    provider: 'acme',
    providerMessageId: 'acme-1',
    status: 'delivered',
    providerStatus: 'DELIVRD',
    ...fields,
  });
  const ambiguous: MessageFailed = {
    ...at(20_000),
    type: 'message.failed',
    status: 'unknown',
    provider: 'bravo',
    attempt: 2,
    errorClass: 'ambiguous',
    errorCode: 'TIMEOUT',
    reason: 'provider timed out',
    requestedAt: new Date(T0 + 10_000).toISOString(),
  };
  return [
    {
      ...at(0),
      type: 'message.requested',
      to: '+447700900123',
      body: 'Your code is on its way',
      class: 'otp',
      lane: 'high',
      segments: 1,
      encoding: 'GSM-7',
      country: 'GB',
      expiresAt: new Date(T0 + 600_000).toISOString(),
      acceptDeadline: new Date(T0 + 2_000).toISOString(),
    },
    submitted(150, {}),
    receipt(900, { status: 'unknown', providerStatus: 'ENROUTE' }),
    ambiguous,
    {
      ...at(20_050),
      type: 'attempt.failed',
      provider: 'delta',
      attempt: 3,
      errorClass: 'retryable',
      errorCode: '503',
      reason: 'service unavailable',
      sent: 'no',
      country: 'GB',
      requestedAt: new Date(T0 + 20_020).toISOString(),
      latencyMs: 30,
    },
    submitted(20_100, {
      provider: 'charlie',
      providerMessageId: 'charlie-3',
      attempt: 4,
      cost: 0,
      failover: 'receipt_timeout',
    }),
    receipt(23_000, { provider: 'charlie', providerMessageId: 'charlie-3' }),
    receipt(60_000, { status: 'undelivered', providerStatus: 'UNDELIV' }),
  ];
}

function attemptContract(name: string, makeTarget: () => Promise<StoreTarget>): void {
  describe(`${name} store contract: attempts and retention`, () => {
    let store: Store;

    migratedStore(makeTarget, (opened) => ({ store } = opened));

    const attemptOf = (overrides: Partial<AttemptRecord> = {}): AttemptRecord => ({
      messageId: newId(),
      attempt: 1,
      tenantId: 'tenant-a',
      eventId: newId(),
      provider: 'acme',
      providerMessageId: 'acme-1',
      outcome: 'submitted',
      errorClass: null,
      errorCode: null,
      failover: null,
      segments: 2,
      cost: 0.0125,
      country: 'GB',
      requestedAt: T0,
      respondedAt: T0 + 140,
      ...overrides,
    });

    test('attempts round-trip by attempt number, only for their tenant', async () => {
      const first = attemptOf();
      const second = attemptOf({
        messageId: first.messageId,
        attempt: 2,
        provider: 'bravo',
        providerMessageId: null,
        outcome: 'unknown',
        errorClass: 'ambiguous',
        errorCode: 'TIMEOUT',
        segments: null,
        cost: null,
        requestedAt: null,
      });
      await store.writeBatch({ messages: [], events: [], attempts: [second, first] });
      assert.deepEqual(await store.listAttempts('tenant-a', first.messageId), [first, second]);
      assert.deepEqual(await store.listAttempts('tenant-b', first.messageId), []);
    });

    test('a replayed attempt changes nothing; of two reports of one attempt the larger event id wins', async () => {
      const report = attemptOf();
      const later = { ...report, eventId: newId(), provider: 'bravo', cost: 0 };
      for (const order of [
        [report, later, report],
        [later, report, later],
      ]) {
        const messageId = newId();
        for (const a of order) {
          await store.writeBatch({ messages: [], events: [], attempts: [{ ...a, messageId }] });
        }
        assert.deepEqual(await store.listAttempts('tenant-a', messageId), [{ ...later, messageId }]);
      }
    });

    test('a whole failover story in any order, with replays, in any batches, gives the same rows', async () => {
      const reference = failoverEvents();
      const messageId = reference[0]!.messageId;
      await store.writeBatch(foldEvents(reference));
      const expected = await store.getMessage('tenant-a', messageId);
      assert.equal(expected?.status, 'delivered');
      assert.equal(expected?.provider, 'charlie', 'the latest attempt');
      assert.equal(expected?.providerMessageId, 'charlie-3');
      assert.equal(expected?.cost, 0.0125, 'the billed attempt, not the free copy');
      assert.equal(expected?.errorCode, null, 'a delivered message has no error code');
      const expectedAttempts = await store.listAttempts('tenant-a', messageId);
      assert.deepEqual(
        expectedAttempts.map((a) => [a.attempt, a.provider, a.outcome, a.cost]),
        [
          [1, 'acme', 'submitted', 0.0125],
          [2, 'bravo', 'unknown', null],
          [3, 'delta', 'failed', null],
          [4, 'charlie', 'submitted', 0],
        ],
      );

      const n = reference.length;
      const deliveries = fc.record({
        order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
        replays: fc.array(fc.record({ event: fc.nat(n - 1), at: fc.nat() }), { maxLength: 5 }),
        batchSizes: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2 * n, maxLength: 2 * n }),
      });
      await fc.assert(
        fc.asyncProperty(deliveries, async ({ order, replays, batchSizes }) => {
          const events = failoverEvents();
          const id = events[0]!.messageId;
          const sequence = order.map((i) => events[i]!);
          for (const r of replays) sequence.splice(r.at % (sequence.length + 1), 0, events[r.event]!);
          let next = 0;
          for (const size of [...batchSizes, sequence.length]) {
            if (next >= sequence.length) break;
            await store.writeBatch(foldEvents(sequence.slice(next, next + size)));
            next += size;
          }
          const row = await store.getMessage('tenant-a', id);
          assert.deepEqual({ ...row, id: messageId }, expected);
          const attempts = await store.listAttempts('tenant-a', id);
          assert.deepEqual(
            attempts.map(({ messageId: _m, eventId: _e, ...a }) => a),
            expectedAttempts.map(({ messageId: _m, eventId: _e, ...a }) => a),
          );
          assert.equal((await store.listEvents('tenant-a', id)).length, n);
        }),
        { numRuns: 25 },
      );
    });

    test('purging removes old messages with their history and attempts, in rounds, and nothing newer', async () => {
      const fresh = await makeTarget();
      const s = fresh.open();
      try {
        await s.migrate();
        const old = Date.UTC(2001, 0, 1);
        const cutoff = Date.UTC(2001, 0, 2);
        // newId() never goes back in time (it stays monotonic), so old ids are spelled out.
        let made = 0;
        const write = async (createdAt: number) => {
          const id = idFloor(createdAt).slice(0, 10) + String(++made).padStart(16, '0');
          const events = failoverEvents('tenant-a', id);
          await s.writeBatch(foldEvents(events));
          return events[0]!.messageId;
        };
        const gone = [await write(old), await write(old), await write(old + 1000)];
        const kept = [await write(cutoff), await write(Date.now())];

        const rounds: Array<{ messages: number; events: number; attempts: number }> = [];
        for (;;) {
          const counts = await s.purgeMessages(cutoff, 4);
          rounds.push(counts);
          if (counts.messages < 4 && counts.events < 4 && counts.attempts < 4) break;
        }
        const total = (key: 'messages' | 'events' | 'attempts') => rounds.reduce((n, r) => n + r[key], 0);
        assert.deepEqual(
          { messages: total('messages'), events: total('events'), attempts: total('attempts') },
          { messages: 3, events: 24, attempts: 12 },
        );
        assert.ok(rounds.length >= 6, 'at most 4 rows per table per round');
        for (const id of gone) {
          assert.equal(await s.getMessage('tenant-a', id), undefined);
          assert.deepEqual(await s.listEvents('tenant-a', id), []);
          assert.deepEqual(await s.listAttempts('tenant-a', id), []);
        }
        for (const id of kept) {
          assert.equal((await s.getMessage('tenant-a', id))?.status, 'delivered');
          assert.equal((await s.listEvents('tenant-a', id)).length, 8);
          assert.equal((await s.listAttempts('tenant-a', id)).length, 4);
        }
        assert.deepEqual(await s.purgeMessages(cutoff, 4), { messages: 0, events: 0, attempts: 0 });
      } finally {
        await s.close();
        await fresh.dispose();
      }
    });
  });
}

againstEveryStore(attemptContract);
