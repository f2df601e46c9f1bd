import { Compile } from 'typebox/compile';
import { Format } from 'typebox/format';
import { isDateTime } from './date-time-format.ts';
import { newId } from './ids.ts';
import {
  AttemptFailed,
  MessageFailed,
  MessageHeld,
  MessageRequested,
  MessageSubmitted,
  type PigeonEvent,
  ReceiptReceived,
  SCHEMA_VERSION,
} from './message.ts';

// Set before compiling: a compiled validator keeps the format check the registry held then.
Format.Set('date-time', isDateTime);

const validators = {
  'message.requested': Compile(MessageRequested),
  'message.submitted': Compile(MessageSubmitted),
  'message.failed': Compile(MessageFailed),
  'attempt.failed': Compile(AttemptFailed),
  'message.held': Compile(MessageHeld),
  'receipt.received': Compile(ReceiptReceived),
} as const;

/** Fields every event carries. */
export function eventBase(messageId: string, tenantId: string, now = Date.now()) {
  return {
    schemaVersion: SCHEMA_VERSION,
    id: newId(now),
    occurredAt: new Date(now).toISOString(),
    messageId,
    tenantId,
  };
}

export class EventDecodeError extends Error {
  constructor(
    message: string,
    readonly raw: string,
  ) {
    super(message);
    this.name = 'EventDecodeError';
  }
}

/** Parses and validates an event from the bus; throws EventDecodeError for anything malformed. */
export function decodeEvent(raw: string): PigeonEvent {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new EventDecodeError('event is not JSON', raw);
  }
  const type = (value as { type?: unknown } | null)?.type;
  const validator = typeof type === 'string' ? validators[type as keyof typeof validators] : undefined;
  if (!validator) throw new EventDecodeError(`unknown event type ${JSON.stringify(type)}`, raw);
  if (!validator.Check(value)) {
    const first = validator.Errors(value)[0];
    throw new EventDecodeError(
      `invalid ${String(type)}: ${first?.instancePath ?? ''} ${first?.message ?? ''}`,
      raw,
    );
  }
  return value;
}
