import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventDecodeError } from '../core/events.ts';
import { decodeInboundRecord, encodeInboundRecord } from './inbound-record.ts';
import type { InboundSms } from './provider.ts';

const SMS: InboundSms = {
  from: '+447700900123',
  to: '+447700900999',
  body: 'STOP',
  providerMessageId: 'smpp-01JXYZ',
  receivedAt: '2026-01-05T10:00:00.000Z',
  part: { reference: '42', index: 1, total: 2 },
};

test('an inbound SMS survives the topic unchanged, keyed by its sender', () => {
  const record = encodeInboundRecord('smsc', SMS);
  assert.equal(record.key, SMS.from);
  assert.deepEqual(decodeInboundRecord(record.value), { provider: 'smsc', sms: SMS });
});

test('malformed records are decode errors, not crashes', () => {
  const bad = [
    'not json',
    'null',
    JSON.stringify({ provider: 'smsc' }),
    JSON.stringify({ provider: 'smsc', sms: { ...SMS, providerMessageId: '' } }),
    JSON.stringify({ provider: 'smsc', sms: { ...SMS, from: 7 } }),
    JSON.stringify({ provider: 'smsc', sms: { ...SMS, part: { reference: '1', index: 'x', total: 2 } } }),
  ];
  for (const raw of bad) assert.throws(() => decodeInboundRecord(raw), EventDecodeError, raw);
});
