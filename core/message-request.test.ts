import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPigeonError } from './errors.ts';
import { decodeEvent } from './events.ts';
import {
  buildMessage,
  buildMessageRequested,
  DEFAULT_TTL_SECONDS_BY_CLASS,
  type MessageInput,
} from './message-request.ts';

const NOW = Date.parse('2030-06-01T12:00:00.000Z');
const PUBLISH_TIMEOUT_MS = 2_500;
const context = {
  tenantId: 'tenant-1',
  messageId: '01JZ0000000000000000000000',
  now: NOW,
  publishTimeoutMs: PUBLISH_TIMEOUT_MS,
};

function build(input: Partial<MessageInput> = {}, extra: { fromBatch?: boolean; batchId?: string } = {}) {
  return buildMessageRequested(
    { to: '+14155550123', body: 'Hello from Pigeon', ...input },
    { ...context, ...extra },
  );
}

function assertRejectedWith(code: string, input: Partial<MessageInput>) {
  assert.throws(
    () => build(input),
    (err: unknown) => isPigeonError(err) && err.code === code && err.status === 400,
    `expected ${code} for ${JSON.stringify(input)}`,
  );
}

test('a valid message becomes a well-formed message.requested event', () => {
  const event = build({ from: 'Pigeon' });

  assert.deepEqual(decodeEvent(JSON.stringify(event)), event);
  assert.equal(event.type, 'message.requested');
  assert.equal(event.messageId, context.messageId);
  assert.equal(event.tenantId, 'tenant-1');
  assert.equal(event.occurredAt, new Date(NOW).toISOString());
  assert.equal(event.to, '+14155550123');
  assert.equal(event.from, 'Pigeon');
  assert.equal(event.body, 'Hello from Pigeon');
  assert.equal(event.class, 'transactional');
  assert.equal(event.country, 'US');
  assert.equal(event.batchId, undefined);
});

test('each class rides its lane', () => {
  assert.equal(build({ class: 'otp' }).lane, 'high');
  assert.equal(build({ class: 'alert' }).lane, 'high');
  assert.equal(build({ class: 'marketing' }).lane, 'bulk');
  assert.equal(build({ class: 'transactional' }).lane, 'normal');
  assert.equal(build().lane, 'normal');
});

test('a batch message rides the bulk lane unless it is urgent', () => {
  const event = build({ class: 'transactional' }, { fromBatch: true, batchId: 'batch-1' });
  assert.equal(event.lane, 'bulk');
  assert.equal(event.batchId, 'batch-1');
  assert.equal(build({ class: 'otp' }, { fromBatch: true }).lane, 'high');
});

test('segments and encoding follow the body', () => {
  assert.deepEqual(pick(build({ body: 'a'.repeat(160) })), { segments: 1, encoding: 'GSM-7' });
  assert.deepEqual(pick(build({ body: 'a'.repeat(161) })), { segments: 2, encoding: 'GSM-7' });
  assert.deepEqual(pick(build({ body: 'Привет' })), { segments: 1, encoding: 'UCS-2' });
  assert.deepEqual(pick(build({ body: 'ж'.repeat(71) })), { segments: 2, encoding: 'UCS-2' });
});

function pick(event: { segments: number; encoding: string }) {
  return { segments: event.segments, encoding: event.encoding };
}

test('expiry defaults to the class ttl and the accept deadline is the publish timeout', () => {
  for (const messageClass of ['otp', 'alert', 'transactional', 'marketing'] as const) {
    const event = build({ class: messageClass });
    assert.equal(
      Date.parse(event.expiresAt),
      NOW + DEFAULT_TTL_SECONDS_BY_CLASS[messageClass] * 1000,
      messageClass,
    );
    assert.equal(Date.parse(event.acceptDeadline), NOW + PUBLISH_TIMEOUT_MS);
  }
  assert.equal(DEFAULT_TTL_SECONDS_BY_CLASS.transactional, 86_400);
});

test('an explicit ttl overrides the class default', () => {
  assert.equal(Date.parse(build({ class: 'otp', ttlSeconds: 120 }).expiresAt), NOW + 120_000);
});

test('a recipient that is not a valid E.164 number is refused', () => {
  for (const to of ['123', '+1415555012', '14155550123', '+999999999999', '']) {
    assertRejectedWith('PIGEON_ERR_INVALID_NUMBER', { to });
  }
});

test('an empty or blank body is refused', () => {
  for (const body of ['', ' ', '\n\t  ']) assertRejectedWith('PIGEON_ERR_EMPTY_BODY', { body });
});

test('a body needing more than ten parts is refused', () => {
  assert.equal(build({ body: 'a'.repeat(1530) }).segments, 10);
  assertRejectedWith('PIGEON_ERR_BODY_TOO_LONG', { body: 'a'.repeat(1531) });
  assert.equal(build({ body: 'ж'.repeat(670) }).segments, 10);
  assertRejectedWith('PIGEON_ERR_BODY_TOO_LONG', { body: 'ж'.repeat(671) });
});

test('a refusal names the offending field', () => {
  try {
    build({ to: '123' });
    assert.fail('expected a refusal');
  } catch (err) {
    assert.ok(isPigeonError(err));
    assert.deepEqual(
      err.errors?.map((e) => e.field),
      ['/to'],
    );
  }
});

test('a sender that is no alphanumeric id, E.164 number or short code is refused before any provider sees it', () => {
  for (const from of ['Pigeon\r\nBcc: x', 'Pig\0eon', '<b>Bank</b>', 'TwelveChars1', '', '+1234']) {
    assertRejectedWith('PIGEON_ERR_INVALID_SENDER', { from });
  }
  assert.equal(build({ from: 'ACME Bank' }).from, 'ACME Bank');
  assert.equal(build({ from: '+447400123456' }).from, '+447400123456');
  assert.equal(build({ from: '72345' }).from, '72345');
});

test("the client's reference and labels ride the event as given", () => {
  const event = build({ clientRef: 'order-4711', metadata: { userId: 'u-42', flow: 'checkout' } });

  assert.equal(event.clientRef, 'order-4711');
  assert.deepEqual(event.metadata, { userId: 'u-42', flow: 'checkout' });
  assert.deepEqual(decodeEvent(JSON.stringify(event)), event);
  const plain = build();
  assert.equal('clientRef' in plain, false);
  assert.equal('metadata' in plain, false);
});

test('a reference or labels over their limits are refused, naming the field', () => {
  const refusals: Array<[Partial<MessageInput>, string]> = [
    [{ clientRef: '' }, '/clientRef'],
    [{ clientRef: 'x'.repeat(129) }, '/clientRef'],
    [{ clientRef: 'order\n4711' }, '/clientRef'],
    [{ clientRef: 'order\u00004711' }, '/clientRef'],
    [{ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, '/metadata'],
    [{ metadata: { note: 'x'.repeat(257) } }, '/metadata/note'],
    [{ metadata: { '': 'empty key' } }, '/metadata/'],
    [{ metadata: { count: 3 as unknown as string } }, '/metadata/count'],
    [{ metadata: ['a'] as unknown as Record<string, string> }, '/metadata'],
    // 16 keys of 200 characters: each within its limit, together over 2 KiB.
    [
      { metadata: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v'.repeat(200)])) },
      '/metadata',
    ],
  ];
  for (const [input, field] of refusals) {
    assert.throws(
      () => build(input),
      (err: unknown) =>
        isPigeonError(err) && err.code === 'PIGEON_ERR_VALIDATION' && err.errors?.[0]?.field === field,
      JSON.stringify(input),
    );
  }
  const full = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v'.repeat(100)]));
  assert.deepEqual(build({ clientRef: 'ünïcode-ref ✓', metadata: full }).metadata, full, 'at the limits');
});

test('with smart encoding allowed, the event carries the replaced text and its GSM-7 count', () => {
  const body = `Your table for 4 is booked — see you at 8 o’clock. ${'x'.repeat(80)}`;
  const plain = buildMessage({ to: '+14155550123', body }, context);
  assert.equal(plain.event.body, body);
  assert.deepEqual([plain.event.encoding, plain.event.segments], ['UCS-2', 2]);
  assert.deepEqual(plain.encoding.forcedUcs2, ['—', '’']);

  const smart = buildMessage({ to: '+14155550123', body }, { ...context, smartEncoding: true });
  assert.equal(smart.event.body, body.replace('—', '-').replace('’', "'"));
  assert.deepEqual([smart.event.encoding, smart.event.segments], ['GSM-7', 1]);
  assert.deepEqual(
    smart.encoding.replaced.map((r) => `${r.from}→${r.to}`),
    ['—→-', "’→'"],
  );
});

test('a body of invisible characters is empty once they are replaced', () => {
  assert.throws(
    () => buildMessage({ to: '+14155550123', body: '\u200b\u00a0' }, { ...context, smartEncoding: true }),
    (err: unknown) => isPigeonError(err) && err.code === 'PIGEON_ERR_EMPTY_BODY',
  );
});
