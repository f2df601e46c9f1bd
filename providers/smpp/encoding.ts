import smpp from 'smpp';
import { countSegments, isGsm7 } from '../../core/segments.ts';
import { ProviderError } from '../provider.ts';

/** submit_sm bodies: GSM-7 / UCS-2 data coding, UDH concatenation, and source address typing. */

const DATA_CODING_GSM7 = 0x00;
const DATA_CODING_UCS2 = 0x08;
export const ESM_CLASS_UDHI = 0x40;
const MAX_PARTS = 255;

export interface EncodedMessage {
  dataCoding: typeof DATA_CODING_GSM7 | typeof DATA_CODING_UCS2;
  /** Each part's complete short_message: UDH (when concatenated) followed by the text. */
  parts: Buffer[];
  concatenated: boolean;
}

/**
 * Splits text into SMS parts the way core/segments.ts counts them (160/153 GSM-7 septets, 70/67
 * UCS-2 units), whole characters only, so no part ends between a GSM escape and its extension
 * character or between the two halves of a surrogate pair.
 */
export function splitText(text: string): { gsm7: boolean; parts: string[] } {
  const gsm7 = isGsm7(text);
  const single = gsm7 ? 160 : 70;
  const multi = gsm7 ? 153 : 67;
  const chars = Array.from(text);
  const widths = chars.map((ch) => (gsm7 ? countSegments(ch).units : ch.length));
  if (widths.reduce((a, b) => a + b, 0) <= single) return { gsm7, parts: [text] };
  const parts: string[] = [];
  let current = '';
  let used = 0;
  chars.forEach((ch, i) => {
    const width = widths[i] ?? 1;
    if (used + width > multi) {
      parts.push(current);
      current = '';
      used = 0;
    }
    current += ch;
    used += width;
  });
  parts.push(current);
  return { gsm7, parts };
}

/** short_message bodies for a text: GSM-7 unpacked (data_coding 0) or UCS-2 big-endian (8). */
export function encodeMessage(text: string, reference: number): EncodedMessage {
  const { gsm7, parts } = splitText(text);
  if (parts.length > MAX_PARTS) {
    throw new ProviderError('permanent', 'BODY_TOO_LONG', `message needs ${parts.length} parts`);
  }
  const encode = (part: string) =>
    gsm7 ? smpp.encodings.ASCII.encode(part) : Buffer.from(part, 'utf16le').swap16();
  if (parts.length === 1) {
    return {
      dataCoding: gsm7 ? DATA_CODING_GSM7 : DATA_CODING_UCS2,
      parts: [encode(parts[0] ?? '')],
      concatenated: false,
    };
  }
  return {
    dataCoding: gsm7 ? DATA_CODING_GSM7 : DATA_CODING_UCS2,
    concatenated: true,
    parts: parts.map((part, i) =>
      // UDHL 5, IEI 0x00 (concatenation, 8-bit reference), IEDL 3, reference, total, sequence.
      Buffer.concat([Buffer.from([0x05, 0x00, 0x03, reference & 0xff, parts.length, i + 1]), encode(part)]),
    ),
  };
}

/** source_addr with its TON/NPI: international number, national digits, or alphanumeric sender. */
export function sourceAddress(from: string | undefined) {
  if (!from) return { source_addr_ton: 0, source_addr_npi: 0, source_addr: '' };
  if (/^\+\d+$/.test(from)) return { source_addr_ton: 1, source_addr_npi: 1, source_addr: from.slice(1) };
  if (/^\d+$/.test(from)) return { source_addr_ton: 0, source_addr_npi: 1, source_addr: from };
  return { source_addr_ton: 5, source_addr_npi: 0, source_addr: from };
}
