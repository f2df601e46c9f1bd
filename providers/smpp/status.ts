import { ProviderError } from '../provider.ts';
import type { SmppOptions } from './options.ts';

/** SMPP 3.4 command_status values (§5.1.3) the adapter acts on, and their spec names. */

export const ESME_ROK = 0x00;
export const ESME_RINVCMDID = 0x03;
/** ESME Receiver Temporary App Error: the SMSC keeps the deliver_sm and retries it later. */
export const ESME_RX_T_APPN = 0x64;
const ESME_RMSGQFUL = 0x14;
const ESME_RTHROTTLED = 0x58;

const STATUS_NAMES: Record<number, string> = {
  0x01: 'ESME_RINVMSGLEN',
  0x04: 'ESME_RINVBNDSTS',
  0x06: 'ESME_RINVPRTFLG',
  0x07: 'ESME_RINVREGDLVFLG',
  0x08: 'ESME_RSYSERR',
  0x0a: 'ESME_RINVSRCADR',
  0x0b: 'ESME_RINVDSTADR',
  0x0d: 'ESME_RBINDFAIL',
  0x0e: 'ESME_RINVPASWD',
  0x0f: 'ESME_RINVSYSID',
  0x14: 'ESME_RMSGQFUL',
  0x15: 'ESME_RINVSERTYP',
  0x43: 'ESME_RINVESMCLASS',
  0x45: 'ESME_RSUBMITFAIL',
  0x48: 'ESME_RINVSRCTON',
  0x49: 'ESME_RINVSRCNPI',
  0x50: 'ESME_RINVDSTTON',
  0x51: 'ESME_RINVDSTNPI',
  0x58: 'ESME_RTHROTTLED',
  0x61: 'ESME_RINVSCHED',
  0x62: 'ESME_RINVEXPIRY',
  0x63: 'ESME_RINVDFTMSGID',
  0xc0: 'ESME_RINVTLVSTREAM',
  0xc1: 'ESME_RTLVNOTALLWD',
  0xc2: 'ESME_RINVTLVLEN',
  0xc3: 'ESME_RMISSINGTLV',
  0xc4: 'ESME_RINVTLVVAL',
  0x104: 'ESME_RINVDCS',
};

// The message itself (its address, length, coding or parameters) is wrong: another provider or a
// later retry would get the same answer.
const INVALID_PARAMETER = new Set([
  0x01, 0x06, 0x07, 0x0a, 0x0b, 0x15, 0x43, 0x48, 0x49, 0x50, 0x51, 0x61, 0x62, 0x63, 0xc0, 0xc1, 0xc2, 0xc3,
  0xc4, 0x104,
]);

/** `0x58` style, as SMSC logs and the spec print command_status. */
export function statusHex(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** The error taxonomy applied to a non-zero submit_sm_resp command_status. */
export function classifySubmitStatus(
  status: number,
  options: Pick<SmppOptions, 'throttledRetryAfterMs' | 'queueFullRetryAfterMs'>,
): ProviderError {
  const raw = statusHex(status);
  const message = `SMSC answered ${STATUS_NAMES[status] ?? 'command_status'} ${raw}`;
  if (status === ESME_RTHROTTLED) {
    return new ProviderError('throttled', raw, message, { retryAfterMs: options.throttledRetryAfterMs });
  }
  if (status === ESME_RMSGQFUL) {
    return new ProviderError('throttled', raw, message, { retryAfterMs: options.queueFullRetryAfterMs });
  }
  if (INVALID_PARAMETER.has(status)) return new ProviderError('permanent', raw, message);
  // ESME_RSYSERR (0x08), ESME_RSUBMITFAIL (0x45) and anything unknown: the SMSC had a problem,
  // not the message, so another provider or a later try may well succeed.
  return new ProviderError('retryable', raw, message);
}
