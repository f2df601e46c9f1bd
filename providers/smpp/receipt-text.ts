import type { ReceiptStatus } from '../../core/message.ts';
import type { ParsedReceipt } from '../provider.ts';

/** Delivery receipts as a deliver_sm carries them: the Appendix B text and the receipt TLVs. */

export interface ReceiptFields {
  id?: string;
  sub?: string;
  dlvrd?: string;
  submitDate?: string;
  doneDate?: string;
  stat?: string;
  err?: string;
  text?: string;
}

const RECEIPT_FIELD = /(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err):(\S*)/gi;
const RECEIPT_TEXT = /(?:^|\s)text:/i;

/**
 * Reads the SMPP 3.4 Appendix B receipt text (`id:… sub:… dlvrd:… submit date:… done date:…
 * stat:… err:… text:…`). The format is only "recommended", so names are case-insensitive, any
 * field may be missing, and `text:` (free text, last) is never searched for other fields.
 */
export function parseReceiptText(raw: string): ReceiptFields {
  const textAt = raw.search(RECEIPT_TEXT);
  const head = textAt < 0 ? raw : raw.slice(0, textAt);
  const fields: ReceiptFields = {};
  if (textAt >= 0) fields.text = raw.slice(raw.indexOf(':', textAt) + 1);
  for (const match of head.matchAll(RECEIPT_FIELD)) {
    const value = match[2] ?? '';
    switch ((match[1] ?? '').toLowerCase()) {
      case 'id':
        fields.id = value;
        break;
      case 'sub':
        fields.sub = value;
        break;
      case 'dlvrd':
        fields.dlvrd = value;
        break;
      case 'submit date':
        fields.submitDate = value;
        break;
      case 'done date':
        fields.doneDate = value;
        break;
      case 'stat':
        fields.stat = value.toUpperCase();
        break;
      case 'err':
        fields.err = value;
        break;
    }
  }
  return fields;
}

/** Final status of a receipt's `stat` word; null for intermediate states (ACCEPTD, ENROUTE). */
const STATUS_BY_STAT: Record<string, ReceiptStatus | null> = {
  DELIVRD: 'delivered',
  UNDELIV: 'undelivered',
  EXPIRED: 'expired',
  REJECTD: 'rejected',
  DELETED: 'unknown',
  UNKNOWN: 'unknown',
  ACCEPTD: null,
  ENROUTE: null,
  SCHEDULED: null,
};

/** message_state TLV values (SMPP 3.4 §5.2.28) by number, as receipt `stat` words. */
const STAT_BY_STATE = [
  'SCHEDULED',
  'ENROUTE',
  'DELIVRD',
  'EXPIRED',
  'DELETED',
  'UNDELIV',
  'ACCEPTD',
  'UNKNOWN',
  'REJECTD',
];

/** YYMMDDhhmm[ss] as ISO time; Appendix B names no zone, and SMSCs overwhelmingly use UTC. */
function receiptDate(value: string | undefined): string | undefined {
  const m = value?.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/);
  if (!m) return undefined;
  const iso = `20${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}Z`;
  return Number.isNaN(Date.parse(iso)) ? undefined : new Date(iso).toISOString();
}

/**
 * SMSCs disagree on the case of hex message ids between submit_sm_resp and the receipt, so ids
 * are kept lower-case on both sides and match exactly.
 */
export function normaliseId(id: string): string {
  return id.trim().toLowerCase();
}

function pduText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (value && typeof value === 'object' && 'message' in value) return pduText(value.message);
  return '';
}

/**
 * The receipt a deliver_sm carries: the receipted_message_id and message_state TLVs when present
 * (they are exact), else the Appendix B text. `null` for intermediate states; undefined when the
 * PDU carries no message id at all.
 */
export function receiptFromDeliverSm(pdu: Record<string, unknown>): ParsedReceipt | null | undefined {
  const text = pduText(pdu.short_message) || pduText(pdu.message_payload);
  const fields = parseReceiptText(text);
  const tlvId = typeof pdu.receipted_message_id === 'string' ? pdu.receipted_message_id : undefined;
  const id = tlvId || fields.id;
  if (!id) return undefined;
  const stateStat = typeof pdu.message_state === 'number' ? STAT_BY_STATE[pdu.message_state] : undefined;
  const stat = stateStat ?? fields.stat ?? 'UNKNOWN';
  const status = Object.hasOwn(STATUS_BY_STAT, stat) ? STATUS_BY_STAT[stat] : 'unknown';
  if (status === null || status === undefined) return null;
  const receipt: ParsedReceipt = {
    providerMessageId: normaliseId(id),
    status,
    providerStatus: fields.err && !/^0+$/.test(fields.err) ? `${stat} err:${fields.err}` : stat,
  };
  const doneAt = receiptDate(fields.doneDate);
  if (doneAt) receipt.doneAt = doneAt;
  return receipt;
}
