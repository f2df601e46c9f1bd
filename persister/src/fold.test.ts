import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildMessageRequested, type MessageInput } from '../../core/message-request.ts';
import { eventBase } from '../../core/events.ts';
import { newId } from '../../core/ids.ts';
import type {
  AttemptFailed,
  MessageFailed,
  MessageRequested,
  MessageSubmitted,
  PigeonEvent,
  ReceiptReceived,
  ReceiptStatus,
} from '../../core/message.ts';
import type { AttemptRecord, MessagePatch } from '../../core/store/kinds/messages.ts';
import { foldEvents, isOrphanReceipt, mergePatches } from './fold.ts';

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

test("the request's client reference and labels fold into the patch; later events keep them", () => {
  const message = requested({ clientRef: 'order-4711', metadata: { userId: 'u-42' } });
  const patch = onlyPatch([receipt(message), message, submitted(message)]);

  assert.equal(patch.clientRef, 'order-4711');
  assert.deepEqual(patch.metadata, { userId: 'u-42' });
  assert.equal(patch.status, 'delivered');
  const without = onlyPatch([requested()]);
  assert.equal('clientRef' in without, false, 'a request without one leaves the column alone');
  assert.equal('metadata' in without, false);
});

test("a campaign message's campaign id folds into the patch, so its progress counts it", () => {
  const message = { ...requested(), campaignId: '01KCAMPAIGN000000000000001' };
  const patch = onlyPatch([message, submitted(message)]);
  assert.equal(patch.campaignId, '01KCAMPAIGN000000000000001');
  assert.equal('campaignId' in onlyPatch([requested()]), false);
});

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
      attempt: 1,
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

function failedAt(
  message: MessageRequested,
  fields: Partial<MessageFailed> & Pick<MessageFailed, 'status' | 'errorClass' | 'errorCode'>,
  at: number,
): MessageFailed {
  return {
    ...eventBase(message.messageId, message.tenantId, at),
    type: 'message.failed',
    attempt: 0,
    reason: 'test',
    ...fields,
  };
}

/**
 * Everything that can happen to one OTP: billed at sim-a, no receipt in time, an ambiguous second
 * try at sim-b, a free third copy through sim-c that is delivered, and sim-a's late receipts.
 */
function failoverStory() {
  const message = requested({ class: 'otp', body: 'Your code is 123456' });
  const first = {
    ...submitted(message, T0 + 50),
    requestedAt: new Date(T0 + 10).toISOString(),
    latencyMs: 40,
  };
  const enroute = { ...receipt(message, 'unknown', T0 + 900), providerStatus: 'ENROUTE' };
  const ambiguous = failedAt(
    message,
    {
      status: 'unknown',
      provider: 'sim-b',
      attempt: 2,
      errorClass: 'ambiguous',
      errorCode: 'TIMEOUT',
      requestedAt: new Date(T0 + 20_000).toISOString(),
    },
    T0 + 30_000,
  );
  const third: MessageSubmitted = {
    ...submitted(message, T0 + 30_100),
    provider: 'sim-c',
    providerMessageId: 'pm-c',
    attempt: 3,
    cost: 0,
    failover: 'receipt_timeout',
  };
  const deliveredC: ReceiptReceived = {
    ...receipt(message, 'delivered', T0 + 33_000),
    provider: 'sim-c',
    providerMessageId: 'pm-c',
  };
  const lateA = receipt(message, 'undelivered', T0 + 60_000);
  const events: PigeonEvent[] = [message, first, enroute, ambiguous, third, deliveredC, lateA];
  return { message, first, enroute, ambiguous, third, deliveredC, lateA, events };
}

test('each provider call becomes one attempt row; failures no provider saw do not', () => {
  const story = failoverStory();
  const expired = failedAt(
    story.message,
    { status: 'expired', errorClass: 'expired', errorCode: 'EXPIRED', attempt: 3 },
    T0 + 90_000,
  );
  const { attempts } = foldEvents([...story.events, expired]);

  assert.deepEqual(
    attempts.map((a) => [a.attempt, a.provider, a.outcome, a.errorCode, a.cost, a.failover]),
    [
      [1, 'sim-a', 'submitted', null, 0.0075, null],
      [2, 'sim-b', 'unknown', 'TIMEOUT', null, null],
      [3, 'sim-c', 'submitted', null, 0, 'receipt_timeout'],
    ],
  );
  const [first, second, third] = attempts;
  assert.equal(first?.requestedAt, T0 + 10);
  assert.equal(first?.respondedAt, T0 + 50, 'request time plus the measured latency');
  assert.equal(first?.providerMessageId, `pm-${story.message.messageId}`);
  assert.equal(first?.country, 'US');
  assert.equal(second?.requestedAt, T0 + 20_000);
  assert.equal(second?.respondedAt, T0 + 30_000);
  assert.equal(third?.requestedAt, null, 'not reported by the bridge');
  assert.equal(third?.respondedAt, T0 + 30_100);
});

test('a refused call the message went on from is an attempt row and a history row, and moves nothing', () => {
  const message = requested();
  const refused: AttemptFailed = {
    ...eventBase(message.messageId, message.tenantId, T0 + 30),
    type: 'attempt.failed',
    provider: 'sim-b',
    attempt: 1,
    errorClass: 'retryable',
    errorCode: '503',
    reason: 'service unavailable',
    sent: 'no',
    requestedAt: new Date(T0 + 10).toISOString(),
    latencyMs: 20,
    country: 'US',
  };
  const taken = { ...submitted(message, T0 + 50), attempt: 2 };
  const forward = foldEvents([message, refused, taken]);
  const backward = foldEvents([taken, refused, message]);

  for (const folded of [forward, backward]) {
    assert.deepEqual(
      folded.attempts
        .map((a) => [a.attempt, a.provider, a.outcome, a.errorClass, a.errorCode])
        .sort((x, y) => Number(x[0]) - Number(y[0])),
      [
        [1, 'sim-b', 'failed', 'retryable', '503'],
        [2, 'sim-a', 'submitted', null, null],
      ],
    );
    const patch = folded.messages[0]!;
    assert.equal(patch.status, 'submitted');
    assert.equal(patch.provider, 'sim-a', 'the refusal does not name the provider');
    assert.equal(patch.attempt, 2);
  }
  const row = forward.attempts.find((a) => a.attempt === 1)!;
  assert.equal(row.requestedAt, T0 + 10);
  assert.equal(row.respondedAt, T0 + 30);
  const history = forward.events.find((e) => e.type === 'attempt.failed')!;
  assert.equal(history.provider, 'sim-b');
  assert.deepEqual(JSON.parse(history.detail!), {
    attempt: 1,
    errorClass: 'retryable',
    errorCode: '503',
    reason: 'service unavailable',
    sent: 'no',
    latencyMs: 20,
  });
  assert.equal(
    foldEvents([{ ...refused, sent: 'maybe' }]).attempts[0]?.outcome,
    'unknown',
    'a call that may have reached the provider stays unknown',
  );
});

test('the billed cost survives a free failover copy, and the latest attempt names the provider', () => {
  const story = failoverStory();
  const patch = onlyPatch(story.events);
  assert.equal(patch.cost, 0.0075);
  assert.equal(patch.provider, 'sim-c');
  assert.equal(patch.providerMessageId, 'pm-c');
  assert.equal(patch.attempt, 3);
  assert.equal(patch.status, 'delivered');
  assert.equal(patch.errorCode, undefined, 'a delivered message has no error code');
});

test('a late receipt from an earlier provider does not take the provider back', () => {
  const story = failoverStory();
  for (const order of [
    [story.third, story.lateA],
    [story.lateA, story.third],
  ]) {
    const patch = onlyPatch(order);
    assert.equal(patch.provider, 'sim-c');
    assert.equal(patch.providerMessageId, 'pm-c');
  }
});

test('the error code is the one of the highest status, whatever came first', () => {
  const story = failoverStory();
  for (const order of [
    [story.enroute, story.ambiguous, story.lateA],
    [story.lateA, story.enroute, story.ambiguous],
    [story.ambiguous, story.lateA, story.enroute],
  ]) {
    const patch = onlyPatch(order);
    assert.equal(patch.status, 'undelivered');
    assert.equal(patch.errorCode, 'UNDELIV');
  }
  // Two reports of the same status: the larger code, in either order.
  assert.equal(onlyPatch([story.enroute, story.ambiguous]).errorCode, 'TIMEOUT');
  assert.equal(onlyPatch([story.ambiguous, story.enroute]).errorCode, 'TIMEOUT');
});

test('any subset, order, duplication and batching of a failover story folds to the same rows', () => {
  const story = failoverStory();
  const pool = story.events;
  const scenario = fc.subarray([...pool.keys()], { minLength: 1 }).chain((chosen) =>
    fc.record({
      chosen: fc.constant(chosen),
      arrival: fc.shuffledSubarray(
        chosen.flatMap((i) => [i, i]),
        { minLength: chosen.length * 2, maxLength: chosen.length * 2 },
      ),
      keep: fc.array(fc.boolean(), { minLength: chosen.length * 2, maxLength: chosen.length * 2 }),
      cuts: fc.array(fc.boolean(), { minLength: chosen.length * 2, maxLength: chosen.length * 2 }),
    }),
  );

  fc.assert(
    fc.property(scenario, ({ chosen, arrival, keep, cuts }) => {
      const expected = foldEvents(chosen.map((i) => pool[i]!));
      // Every chosen event arrives at least once; its second copy only where `keep` says so.
      const seen = new Set<number>();
      const sequence = arrival.filter((i, n) => {
        const first = !seen.has(i);
        seen.add(i);
        return first || keep[n];
      });
      const batches: PigeonEvent[][] = [[]];
      sequence.forEach((i, n) => {
        if (n > 0 && cuts[n]) batches.push([]);
        batches.at(-1)!.push(pool[i]!);
      });
      const folded = batches.map((b) => foldEvents(b));
      const merged = folded.map((f) => f.messages[0]!).reduce((a, b) => mergePatches(a, b));
      assert.deepEqual(merged, expected.messages[0]);
      assert.deepEqual(foldEvents(sequence.map((i) => pool[i]!)).messages, expected.messages);

      const byKey = (rows: AttemptRecord[]) =>
        Object.fromEntries(rows.map((a) => [`${a.messageId}:${a.attempt}`, a]));
      assert.deepEqual(byKey(folded.flatMap((f) => f.attempts)), byKey(expected.attempts));
      assert.deepEqual(
        new Set(folded.flatMap((f) => f.events.map((e) => e.eventId))),
        new Set(expected.events.map((e) => e.eventId)),
      );
    }),
    { numRuns: 1000 },
  );
});

test('only a receipt event without a tenant is an orphan, which the persister never writes', () => {
  const message = requested();
  assert.equal(isOrphanReceipt(receipt(message)), false);
  assert.equal(isOrphanReceipt({ ...receipt(message), tenantId: '' }), true);
  assert.equal(
    isOrphanReceipt({ ...submitted(message), tenantId: '' }),
    false,
    'only receipts come from outside',
  );
});
