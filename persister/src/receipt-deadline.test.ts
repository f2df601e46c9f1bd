import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEvent, eventBase } from '../../core/events.ts';
import { newId, timeOfId } from '../../core/ids.ts';
import type { MessageSubmitted, PigeonEvent, ReceiptReceived } from '../../core/message.ts';
import type { OverdueReceipt } from '../../core/store/kinds/messages.ts';
import { callbackFor } from './callbacks/payload.ts';
import { foldEvents } from './fold.ts';
import {
  overdueCutoffs,
  RECEIPT_DEADLINE,
  receiptDeadlineEvent,
  receiptDeadlineEventId,
} from './receipt-deadline.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2030-06-01T12:00:00.000Z');
const TENANT = 'tenant-1';

function overdue(fields: Partial<OverdueReceipt> = {}): OverdueReceipt {
  return { id: newId(T0), tenantId: TENANT, messageClass: 'otp', submittedAt: T0, attempt: 1, ...fields };
}

function submitted(message: OverdueReceipt): MessageSubmitted {
  return {
    ...eventBase(message.id, TENANT, message.submittedAt),
    type: 'message.submitted',
    provider: 'sim-a',
    providerMessageId: `pm-${message.id}`,
    attempt: message.attempt,
    segments: 1,
    cost: 0.0075,
    latencyMs: 42,
  };
}

function delivered(message: OverdueReceipt, at: number): ReceiptReceived {
  return {
    ...eventBase(message.id, TENANT, at),
    type: 'receipt.received',
    provider: 'sim-a',
    providerMessageId: `pm-${message.id}`,
    status: 'delivered',
    providerStatus: 'DELIVRD',
  };
}

test('gives every class with a deadline its own cutoff and leaves a class of 0 waiting forever', () => {
  const cutoffs = overdueCutoffs(
    { otp: 1 * HOUR, alert: 2 * HOUR, transactional: 72 * HOUR, marketing: 0 },
    T0,
  );
  assert.deepEqual(
    cutoffs.map((c) => [c.messageClass, c.submittedBefore]),
    [
      ['otp', T0 - HOUR],
      ['alert', T0 - 2 * HOUR],
      ['transactional', T0 - 72 * HOUR],
    ],
  );
});

test('makes the same event id for the same message however often or wherever it is swept', () => {
  const message = overdue();
  const first = receiptDeadlineEvent(message, 72 * HOUR, T0 + 72 * HOUR + 5);
  const again = receiptDeadlineEvent(message, 72 * HOUR, T0 + 80 * HOUR);
  assert.equal(first.id, again.id);
  assert.equal(first.id, receiptDeadlineEventId(message, 72 * HOUR));
  assert.equal(timeOfId(first.id), T0 + 72 * HOUR, 'the id sorts at the moment the deadline passed');
  assert.notEqual(receiptDeadlineEvent(overdue(), 72 * HOUR, T0).id, first.id, 'another message, another id');
});

test('is a valid message.failed of status unknown, naming no provider', () => {
  const message = overdue({ attempt: 2, messageClass: 'transactional' });
  const event = receiptDeadlineEvent(message, 72 * HOUR, T0 + 73 * HOUR);
  assert.deepEqual(decodeEvent(JSON.stringify(event)), event);
  assert.equal(event.type, 'message.failed');
  assert.equal(event.status, 'unknown');
  assert.equal(event.errorCode, RECEIPT_DEADLINE);
  assert.equal(event.provider, undefined);
  assert.equal(event.attempt, 2);
  assert.equal(event.class, 'transactional');
  assert.equal(event.tenantId, TENANT);
});

test('folds a submitted message to unknown and keeps its submitted attempt as it was', () => {
  const message = overdue();
  const deadline = receiptDeadlineEvent(message, HOUR, T0 + 2 * HOUR);
  const folded = foldEvents([submitted(message), deadline]);
  assert.equal(folded.messages[0]!.status, 'unknown');
  assert.equal(folded.messages[0]!.errorCode, RECEIPT_DEADLINE);
  assert.equal(folded.messages[0]!.provider, 'sim-a', 'the provider that took it stays on the message');
  assert.deepEqual(
    folded.attempts.map((a) => [a.attempt, a.outcome]),
    [[1, 'submitted']],
  );
  assert.deepEqual(
    folded.events.map((e) => [e.type, e.status]),
    [
      ['message.submitted', 'submitted'],
      ['message.failed', 'unknown'],
    ],
  );
});

test('lets a receipt arriving after the deadline, or overtaken by it, end the message delivered', () => {
  const message = overdue();
  const events: PigeonEvent[] = [
    submitted(message),
    receiptDeadlineEvent(message, HOUR, T0 + 2 * HOUR),
    delivered(message, T0 + 3 * HOUR),
  ];
  for (const order of [events, [...events].reverse(), [events[0]!, events[2]!, events[1]!]]) {
    const patch = foldEvents(order).messages[0]!;
    assert.equal(patch.status, 'delivered');
    assert.equal(patch.errorCode, undefined);
  }
});

test("tells the tenant it is final, unknown, with the deadline's code", () => {
  const event = receiptDeadlineEvent(overdue(), HOUR, T0 + 2 * HOUR);
  assert.deepEqual(callbackFor(event), {
    id: event.id,
    type: 'message.unknown',
    messageId: event.messageId,
    status: 'unknown',
    final: true,
    occurredAt: event.occurredAt,
    errorCode: RECEIPT_DEADLINE,
  });
});
