import type { BusRecord } from '../core/bus/bus.ts';
import { EventDecodeError } from '../core/events.ts';
import type { InboundSms } from './provider.ts';

/**
 * An inbound SMS on the `sms.inbound` topic: the bridge, which holds provider connections (SMPP),
 * publishes what arrives there for the api, which handles inbound SMS.
 */
export interface InboundSmsRecord {
  provider: string;
  sms: InboundSms;
}

/** Keyed by the sender, so the parts of one message land in one partition, in order. */
export function encodeInboundRecord(provider: string, sms: InboundSms): BusRecord {
  return { key: sms.from, value: JSON.stringify({ provider, sms } satisfies InboundSmsRecord) };
}

const isText = (v: unknown): v is string => typeof v === 'string';

/** Parses and checks one record; throws EventDecodeError for anything malformed. */
export function decodeInboundRecord(raw: string): InboundSmsRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new EventDecodeError('inbound record is not JSON', raw);
  }
  const { provider, sms } = (value ?? {}) as Partial<InboundSmsRecord>;
  if (
    !isText(provider) ||
    !sms ||
    !isText(sms.from) ||
    !isText(sms.to) ||
    !isText(sms.body) ||
    !isText(sms.providerMessageId) ||
    sms.providerMessageId === ''
  ) {
    throw new EventDecodeError('inbound record lacks provider, from, to, body or providerMessageId', raw);
  }
  const part = sms.part;
  if (
    part !== undefined &&
    (!isText(part.reference) || !Number.isInteger(part.index) || !Number.isInteger(part.total))
  ) {
    throw new EventDecodeError('inbound record has a malformed part', raw);
  }
  return { provider, sms };
}
