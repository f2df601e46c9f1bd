import assert from 'node:assert/strict';
import { test } from 'node:test';
import smpp from 'smpp';
import { concatenationFromUdh, inboundFromDeliverSm, isMobileOriginated } from './mobile-originated.ts';

const AT = new Date('2026-01-05T10:00:00Z');

/** A deliver_sm as it comes off the wire: encoded and decoded by the smpp package. */
function wire(fields: Record<string, unknown>): Record<string, unknown> {
  const decoded = smpp.PDU.fromBuffer(new smpp.PDU('deliver_sm', fields).toBuffer());
  assert.ok(decoded);
  return decoded;
}

const mo = (fields: Record<string, unknown>) =>
  wire({
    source_addr: '447700900123',
    source_addr_ton: 1,
    destination_addr: '447700900999',
    dest_addr_ton: 1,
    ...fields,
  });

test('tells a mobile-originated deliver_sm from a receipt and an intermediate notification', () => {
  assert.equal(isMobileOriginated(mo({ esm_class: 0, short_message: 'hi' })), true);
  assert.equal(
    isMobileOriginated(mo({ esm_class: 0x40, short_message: Buffer.from([5, 0, 3, 1, 2, 1, 0x41]) })),
    true,
  );
  assert.equal(isMobileOriginated(mo({ esm_class: 0x04, short_message: 'id:1 stat:DELIVRD' })), false);
  assert.equal(isMobileOriginated(mo({ esm_class: 0x20, short_message: 'x' })), false);
});

test('reads a GSM-7 STOP with international numbers as E.164', () => {
  const sms = inboundFromDeliverSm(mo({ short_message: 'STOP' }), 'id-1', AT);
  assert.deepEqual(sms, {
    from: '+447700900123',
    to: '+447700900999',
    body: 'STOP',
    providerMessageId: 'id-1',
    receivedAt: AT.toISOString(),
  });
});

test('keeps a short code or a national number as the SMSC wrote it', () => {
  const sms = inboundFromDeliverSm(
    wire({ source_addr: '07700900123', source_addr_ton: 2, destination_addr: '60123', short_message: 'YES' }),
    'id-2',
    AT,
  );
  assert.equal(sms?.from, '07700900123');
  assert.equal(sms?.to, '60123');
});

test('decodes the GSM-7 default alphabet, its escapes included', () => {
  const sms = inboundFromDeliverSm(mo({ data_coding: 0, short_message: '€5 @ {home} ü' }), 'g', AT);
  assert.equal(sms?.body, '€5 @ {home} ü');
});

test('decodes UCS-2 and Latin-1 bodies', () => {
  const ucs2 = Buffer.from('退订 🙂', 'utf16le').swap16();
  assert.equal(inboundFromDeliverSm(mo({ data_coding: 8, short_message: ucs2 }), 'u', AT)?.body, '退订 🙂');
  const latin1 = Buffer.from('Désinscription ñ', 'latin1');
  assert.equal(
    inboundFromDeliverSm(mo({ data_coding: 3, short_message: latin1 }), 'l', AT)?.body,
    'Désinscription ñ',
  );
});

test('marks a UDH part with an 8-bit reference and strips the header from the text', () => {
  const body = Buffer.concat([Buffer.from([5, 0x00, 3, 0xa7, 3, 2]), Buffer.from('second part')]);
  const sms = inboundFromDeliverSm(mo({ esm_class: 0x40, short_message: body }), 'p', AT);
  assert.equal(sms?.body, 'second part');
  assert.deepEqual(sms?.part, { reference: '167', index: 2, total: 3 });
});

test('marks a UCS-2 UDH part with a 16-bit reference', () => {
  const text = Buffer.from('第一部分', 'utf16le').swap16();
  const body = Buffer.concat([Buffer.from([6, 0x08, 4, 0x12, 0x34, 2, 1]), text]);
  const sms = inboundFromDeliverSm(mo({ esm_class: 0x40, data_coding: 8, short_message: body }), 'p', AT);
  assert.equal(sms?.body, '第一部分');
  assert.deepEqual(sms?.part, { reference: String(0x1234), index: 1, total: 2 });
});

test('marks a part from the sar_* TLVs', () => {
  const sms = inboundFromDeliverSm(
    mo({ short_message: 'tail', sar_msg_ref_num: 513, sar_total_segments: 2, sar_segment_seqnum: 2 }),
    's',
    AT,
  );
  assert.deepEqual(sms?.part, { reference: '513', index: 2, total: 2 });
});

test('reads message_payload when the text is carried there', () => {
  const long = 'x'.repeat(300);
  const sms = inboundFromDeliverSm(mo({ message_payload: long }), 'm', AT);
  assert.equal(sms?.body, long);
});

test('a single-part UDH or a nonsense sequence is not a part', () => {
  assert.equal(concatenationFromUdh([Buffer.from([0x00, 3, 9, 1, 1])])?.total, 1);
  const one = inboundFromDeliverSm(
    mo({
      esm_class: 0x40,
      short_message: Buffer.concat([Buffer.from([5, 0, 3, 9, 1, 1]), Buffer.from('x')]),
    }),
    'o',
    AT,
  );
  assert.equal(one?.part, undefined);
  const bad = inboundFromDeliverSm(
    mo({ short_message: 'x', sar_msg_ref_num: 1, sar_total_segments: 2, sar_segment_seqnum: 5 }),
    'b',
    AT,
  );
  assert.equal(bad?.part, undefined);
});

test('a deliver_sm without a sender is no SMS', () => {
  assert.equal(
    inboundFromDeliverSm(wire({ destination_addr: '60123', short_message: 'hi' }), 'n', AT),
    undefined,
  );
});
