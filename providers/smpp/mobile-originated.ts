import smpp from 'smpp';
import type { InboundSms } from '../provider.ts';

/**
 * Mobile-originated SMS as a deliver_sm carries them: which deliver_sm is one, its text by
 * data_coding, and its place in a concatenated message (UDH or sar_* TLVs).
 */

/** esm_class bits 5..2: the message type. 0000 is a plain (mobile-originated) short message. */
const MESSAGE_TYPE_MASK = 0x3c;
/** SMPP 3.4 §5.2.19 data_coding values Pigeon decodes; others are read as Latin-1 octets. */
const DATA_CODING_SMSC_DEFAULT = 0x00;
const DATA_CODING_IA5 = 0x01;
const DATA_CODING_LATIN1 = 0x03;
const DATA_CODING_UCS2 = 0x08;
/** UDH information elements: concatenation with an 8-bit and a 16-bit reference. */
const IEI_CONCAT_8 = 0x00;
const IEI_CONCAT_16 = 0x08;

/** Whether a deliver_sm is an SMS from a handset rather than a receipt or a notification. */
export function isMobileOriginated(pdu: Record<string, unknown>): boolean {
  const esmClass = typeof pdu.esm_class === 'number' ? pdu.esm_class : 0;
  return (esmClass & MESSAGE_TYPE_MASK) === 0;
}

/**
 * The text of raw octets by data_coding: the SMSC default alphabet (GSM 03.38, one septet per
 * octet, as SMSCs send it unpacked), UCS-2 big-endian, or Latin-1. Only the low nibble names the
 * alphabet for the 0000xxxx group, which is all SMPP 3.4 defines.
 */
export function decodeShortMessage(octets: Buffer, dataCoding: number): string {
  switch (dataCoding & 0x0f) {
    case DATA_CODING_SMSC_DEFAULT:
    case DATA_CODING_IA5:
      return smpp.encodings.ASCII.decode(octets);
    case DATA_CODING_UCS2:
      return Buffer.from(octets.subarray(0, octets.length & ~1))
        .swap16()
        .toString('utf16le');
    case DATA_CODING_LATIN1:
    default:
      return octets.toString('latin1');
  }
}

interface MessageField {
  udh: Buffer[];
  text: string;
}

/**
 * short_message or message_payload as the smpp package hands it: a `{ udh, message }` object it
 * has already decoded (UDH split off when esm_class has UDHI), or raw octets when it had no
 * data_coding to go by. Raw octets are split and decoded here.
 */
function messageField(value: unknown, esmClass: number, dataCoding: number): MessageField | undefined {
  if (typeof value === 'string') return { udh: [], text: value };
  if (Buffer.isBuffer(value)) {
    if (value.length === 0) return undefined;
    if (esmClass & 0x40) {
      const headerLength = value[0]! + 1;
      return {
        udh: splitUdh(value.subarray(1, headerLength)),
        text: decodeShortMessage(value.subarray(headerLength), dataCoding),
      };
    }
    return { udh: [], text: decodeShortMessage(value, dataCoding) };
  }
  if (value && typeof value === 'object' && 'message' in value) {
    const { udh, message } = value as { udh?: unknown; message: unknown };
    const elements = Array.isArray(udh) ? udh.filter((e): e is Buffer => Buffer.isBuffer(e)) : [];
    const text = Buffer.isBuffer(message)
      ? decodeShortMessage(message, dataCoding)
      : typeof message === 'string'
        ? message
        : '';
    return { udh: elements, text };
  }
  return undefined;
}

/** UDH information elements (without the UDHL octet), each as IEI, IEDL, data. */
function splitUdh(header: Buffer): Buffer[] {
  const elements: Buffer[] = [];
  let at = 0;
  while (at + 1 < header.length) {
    const end = at + 2 + header[at + 1]!;
    elements.push(header.subarray(at, end));
    at = end;
  }
  return elements;
}

/** The concatenation element of a UDH: 8-bit or 16-bit reference, total, sequence. */
export function concatenationFromUdh(udh: readonly Buffer[]): InboundSms['part'] | undefined {
  for (const element of udh) {
    if (element[0] === IEI_CONCAT_8 && element[1] === 3 && element.length >= 5) {
      return { reference: String(element[2]), index: element[4]!, total: element[3]! };
    }
    if (element[0] === IEI_CONCAT_16 && element[1] === 4 && element.length >= 6) {
      return { reference: String(element.readUInt16BE(2)), index: element[5]!, total: element[4]! };
    }
  }
  return undefined;
}

function concatenationFromSar(pdu: Record<string, unknown>): InboundSms['part'] | undefined {
  const { sar_msg_ref_num: ref, sar_total_segments: total, sar_segment_seqnum: index } = pdu;
  if (typeof ref !== 'number' || typeof total !== 'number' || typeof index !== 'number') return undefined;
  return { reference: String(ref), index, total };
}

/**
 * An address as E.164 when its TON says international (1), else as given: short codes and
 * alphanumeric senders are registered as they are written.
 */
function address(value: unknown, ton: unknown): string {
  const text = typeof value === 'string' ? value.trim() : '';
  if (ton === 1 && /^\d+$/.test(text)) return `+${text}`;
  return text;
}

/**
 * The SMS a mobile-originated deliver_sm carries, or undefined when it has no sender, recipient or
 * text. A deliver_sm names no message id of its own, so `providerMessageId` is the one the caller
 * assigned on receipt: a record carrying it over the bus is then recognised when delivered again.
 * A part is marked as such (UDH first, then the sar_* TLVs) for the receiver to join.
 */
export function inboundFromDeliverSm(
  pdu: Record<string, unknown>,
  providerMessageId: string,
  receivedAt: Date,
): InboundSms | undefined {
  const esmClass = typeof pdu.esm_class === 'number' ? pdu.esm_class : 0;
  const dataCoding = typeof pdu.data_coding === 'number' ? pdu.data_coding : 0;
  // message_payload replaces short_message for texts over 254 octets; SMSCs send one or the other.
  const payload = messageField(pdu.message_payload, esmClass, dataCoding);
  const field = payload ?? messageField(pdu.short_message, esmClass, dataCoding);
  const from = address(pdu.source_addr, pdu.source_addr_ton);
  const to = address(pdu.destination_addr, pdu.dest_addr_ton);
  if (!field || from === '' || to === '') return undefined;
  const sms: InboundSms = {
    from,
    to,
    body: field.text,
    providerMessageId,
    receivedAt: receivedAt.toISOString(),
  };
  const part = concatenationFromUdh(field.udh) ?? concatenationFromSar(pdu);
  if (part && part.total > 1 && part.index >= 1 && part.index <= part.total) sms.part = part;
  return sms;
}
