import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventBase } from '../../../core/events.ts';
import type { MessageFailed, MessageSubmitted, ReceiptReceived } from '../../../core/message.ts';
import { callbackFor, withClientReference } from './payload.ts';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const base = eventBase('01JN0000000000000000000001', 'tenant-a', T0);

const submitted: MessageSubmitted = {
  ...base,
  type: 'message.submitted',
  provider: 'sim-b',
  providerMessageId: 'SIM-1',
  attempt: 1,
  segments: 2,
  cost: 0.015,
  latencyMs: 40,
};

test('a submission tells provider, parts and cost, under the event id', () => {
  assert.deepEqual(callbackFor(submitted), {
    id: base.id,
    type: 'message.submitted',
    messageId: base.messageId,
    status: 'submitted',
    final: false,
    occurredAt: base.occurredAt,
    provider: 'sim-b',
    providerMessageId: 'SIM-1',
    segments: 2,
    cost: 0.015,
  });
});

test("a failover's second submission is not a status change", () => {
  assert.equal(callbackFor({ ...submitted, attempt: 2, failover: 'receipt_timeout', cost: 0 }), undefined);
});

test('a failure is final unless ambiguous, and names its code', () => {
  const failed: MessageFailed = {
    ...base,
    type: 'message.failed',
    status: 'failed',
    attempt: 1,
    errorClass: 'permanent',
    errorCode: 'INVALID_NUMBER',
    reason: 'number does not exist',
  };
  assert.deepEqual(callbackFor(failed), {
    id: base.id,
    type: 'message.failed',
    messageId: base.messageId,
    status: 'failed',
    final: true,
    occurredAt: base.occurredAt,
    errorCode: 'INVALID_NUMBER',
  });
  const ambiguous = callbackFor({ ...failed, status: 'unknown', provider: 'sim-a', errorCode: 'TIMEOUT' });
  assert.equal(ambiguous?.type, 'message.unknown');
  assert.equal(ambiguous?.final, false);
  assert.equal(ambiguous?.provider, 'sim-a');
});

test('receipts carry the carrier status; a rejection after acceptance is a failure', () => {
  const receipt: ReceiptReceived = {
    ...base,
    type: 'receipt.received',
    provider: 'sim-b',
    providerMessageId: 'SIM-1',
    status: 'delivered',
    providerStatus: 'DELIVRD',
  };
  assert.deepEqual(callbackFor(receipt), {
    id: base.id,
    type: 'message.delivered',
    messageId: base.messageId,
    status: 'delivered',
    final: true,
    occurredAt: base.occurredAt,
    provider: 'sim-b',
    providerMessageId: 'SIM-1',
    providerStatus: 'DELIVRD',
  });
  const rejected = callbackFor({ ...receipt, status: 'rejected', providerStatus: 'REJECTD' });
  assert.equal(rejected?.status, 'failed');
  assert.equal(rejected?.errorCode, 'REJECTD');
});

test('a request makes no callback: its 202 already said queued', () => {
  assert.equal(
    callbackFor({
      ...base,
      type: 'message.requested',
      to: '+14155550123',
      body: 'hi',
      class: 'transactional',
      lane: 'normal',
      segments: 1,
      encoding: 'GSM-7',
      expiresAt: base.occurredAt,
      acceptDeadline: base.occurredAt,
    }),
    undefined,
  );
});

test("the client's reference and labels are added from the stored request, and left out when it had none", () => {
  const callback = callbackFor(submitted)!;
  assert.deepEqual(withClientReference(callback, { clientRef: 'order-4711', metadata: { userId: 'u-42' } }), {
    ...callback,
    clientRef: 'order-4711',
    metadata: { userId: 'u-42' },
  });
  assert.deepEqual(withClientReference(callback, { clientRef: null, metadata: null }), callback);
  assert.equal('clientRef' in withClientReference(callback, { clientRef: null, metadata: null }), false);
});
