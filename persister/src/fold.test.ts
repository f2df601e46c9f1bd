import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildMessageRequested, type MessageInput } from '../../api/src/accept.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import type {
  MessageRequested,
  MessageSubmitted,
  PigeonEvent,
  ReceiptReceived,
  ReceiptStatus,
} from '../../core/message.ts';
import type { MessagePatch } from '../../core/store/store.ts';
import { foldEvents, mergePatches } from './fold.ts';

const T0 = Date.parse('2030-06-01T12:00:00.000Z');
const TENANT = 'tenant-1';

function requested(input: Partial<MessageInput> = {}, messageId = newId(T0)): MessageRequested {
  return buildMessageRequested(
    { to: '+14155550123', body: 'Your parcel is on its way', from: 'Pigeon', ...input },
    { tenantId: TENANT, messageId, now: T0, publishTimeoutMs: 2_000 },
  );
}

function submitted(message: MessageRequested, at = T0 + 50): MessageSubmitted {
  return {
    ...eventBase(message.messageId, message.tenantId, at),
    type: 'message.submitted',
    provider: 'sim-a',
    providerMessageId: `pm-${message.messageId}`,
    attempt: 1,
    segments: message.segments,
    cost: 0.0075,
    latencyMs: 42,
    country: 'US',
  };
}

function receipt(
  message: MessageRequested,
  status: ReceiptStatus = 'delivered',
  at = T0 + 3_000,
): ReceiptReceived {
  return {
    ...eventBase(message.messageId, message.tenantId, at),
    type: 'receipt.received',
    provider: 'sim-a',
    providerMessageId: `pm-${message.messageId}`,
    status,
    providerStatus: status === 'delivered' ? 'DELIVRD' : 'UNDELIV',
    doneAt: new Date(at - 500).toISOString(),
  };
}

function onlyPatch(events: readonly PigeonEvent[]): MessagePatch {
  const { messages } = foldEvents(events);
  assert.equal(messages.length, 1);
  return messages[0]!;
}

test('a requested, submitted and delivered message folds to one delivered patch with every field', () => {
  const message = requested();
  const batch = foldEvents([message, submitted(message), receipt(message)]);

  assert.deepEqual(batch.messages, [
    {
      id: message.messageId,
      tenantId: TENANT,
      status: 'delivered',
      recipient: '+14155550123',
      sender: 'Pigeon',
      messageClass: 'transactional',
      lane: 'normal',
      body: 'Your parcel is on its way',
      segments: 1,
      encoding: 'GSM-7',
      country: 'US',
      batchId: null,
      provider: 'sim-a',
      providerMessageId: `pm-${message.messageId}`,
      cost: 0.0075,
      queuedAt: T0,
      submittedAt: T0 + 50,
      finalAt: T0 + 2_500,
      updatedAt: T0 + 3_000,
    },
  ]);
  assert.deepEqual(
    batch.events.map((e) => [e.type, e.status]),
    [
      ['message.requested', 'queued'],
      ['message.submitted', 'submitted'],
      ['receipt.received', 'delivered'],
    ],
  );
});

test('any order, duplication and batching of one message’s events folds to the same patch', () => {
  const message = requested();
  const events: PigeonEvent[] = [message, submitted(message), receipt(message)];
  const expected = onlyPatch(events);
  const expectedIds = new Set(events.map((e) => e.id));

  const arrival = fc
    .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))
    .map((counts) => counts.flatMap((count, i) => Array.from({ length: count }, () => events[i]!)))
    .chain((all) =>
      fc.tuple(
        fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }),
        fc.array(fc.boolean(), { minLength: all.length - 1, maxLength: all.length - 1 }),
      ),
    );

  fc.assert(
    fc.property(arrival, ([ordered, cuts]) => {
      // All in one batch.
      const whole = foldEvents(ordered);
      assert.equal(whole.messages.length, 1);
      assert.deepEqual(whole.messages[0], expected);
      assert.deepEqual(new Set(whole.events.map((e) => e.eventId)), expectedIds);

      // Split into batches wherever a cut falls, each folded, then merged in order.
      const batches: PigeonEvent[][] = [[ordered[0]!]];
      for (let i = 1; i < ordered.length; i++) {
        if (cuts[i - 1]) batches.push([]);
        batches.at(-1)!.push(ordered[i]!);
      }
      const folded = batches.map((b) => foldEvents(b));
      const patches = folded.map((f) => {
        assert.equal(f.messages.length, 1);
        return f.messages[0]!;
      });
      const merged = patches.reduce((a, b) => mergePatches(a, b));
      assert.deepEqual(merged, expected);
      assert.deepEqual(new Set(folded.flatMap((f) => f.events.map((e) => e.eventId))), expectedIds);
    }),
    { numRuns: 500 },
  );
});

test('a late submitted never replaces delivered', () => {
  const message = requested();
  const late = submitted(message, T0 + 5_000);

  const patch = onlyPatch([message, receipt(message), late]);
  assert.equal(patch.status, 'delivered');
  assert.equal(patch.finalAt, T0 + 2_500);

  const merged = mergePatches(onlyPatch([message, receipt(message)]), onlyPatch([late]));
  assert.equal(merged.status, 'delivered');
});

test('a receipt that arrives before its request still leaves the message delivered', () => {
  const message = requested();
  const patch = onlyPatch([receipt(message), submitted(message), message]);

  assert.equal(patch.status, 'delivered');
  assert.equal(patch.recipient, '+14155550123');
  assert.equal(patch.queuedAt, T0);
});

test('a receipt the provider sends again keeps the earliest completion time', () => {
  const message = requested();
  const first = receipt(message, 'delivered', T0 + 3_000);
  const resent = receipt(message, 'delivered', T0 + 60_000);

  for (const order of [
    [first, resent],
    [resent, first],
  ]) {
    const patch = onlyPatch([message, ...order]);
    assert.equal(patch.finalAt, T0 + 2_500);
    assert.equal(patch.updatedAt, T0 + 60_000);
    const merged = mergePatches(onlyPatch([message, order[0]!]), onlyPatch([order[1]!]));
    assert.equal(merged.finalAt, T0 + 2_500);
  }
});

test('an otp message’s body is never in the patch or the history', () => {
  const message = requested({ class: 'otp', body: 'Your code is 482913' });
  const batch = foldEvents([message, submitted(message), receipt(message)]);

  assert.equal(batch.messages[0]?.body, null);
  assert.equal(batch.messages[0]?.lane, 'high');
  assert.doesNotMatch(JSON.stringify(batch), /482913/);
});

test('events of several messages fold to one patch per message', () => {
  const first = requested({}, newId(T0));
  const second = requested({ class: 'marketing', to: '+4915112345678' }, newId(T0));
  const third = requested({}, newId(T0));
  const events: PigeonEvent[] = [
    first,
    second,
    submitted(first),
    third,
    receipt(second, 'undelivered'),
    submitted(second),
    receipt(first),
  ];

  const batch = foldEvents(events);

  assert.equal(batch.events.length, events.length);
  const byId = new Map(batch.messages.map((p) => [p.id, p]));
  assert.equal(batch.messages.length, 3);
  assert.equal(byId.get(first.messageId)?.status, 'delivered');
  assert.equal(byId.get(second.messageId)?.status, 'undelivered');
  assert.equal(byId.get(second.messageId)?.errorCode, 'UNDELIV');
  assert.equal(byId.get(second.messageId)?.country, 'DE');
  assert.equal(byId.get(third.messageId)?.status, 'queued');
});

test('the larger segment count wins whichever event comes first', () => {
  const message = requested();
  const billed = { ...submitted(message), segments: 3 };
  assert.equal(onlyPatch([message, billed]).segments, 3);
  assert.equal(onlyPatch([billed, message]).segments, 3);
});
