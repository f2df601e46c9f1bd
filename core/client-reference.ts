import { PigeonError } from './errors.ts';

// A client's own reference on a message (`clientRef`, like Twilio's and AWS's): an order or user
// id to find the message by, plus a few labels (`metadata`) echoed back in status callbacks. Small
// and bounded, because every status callback and listing row carries them.

export const MAX_CLIENT_REF_LENGTH = 128;
export const MAX_METADATA_KEYS = 16;
export const MAX_METADATA_KEY_LENGTH = 64;
export const MAX_METADATA_VALUE_LENGTH = 256;
/** The whole object as JSON, in UTF-8 bytes. */
export const MAX_METADATA_BYTES = 2048;

export type Metadata = Record<string, string>;

export interface ClientReference {
  clientRef?: string;
  metadata?: Metadata;
}

/** Control, format and unassigned characters: a reference is shown in logs, CSVs and dashboards. */
const UNPRINTABLE = /\p{C}/u;

const invalid = (field: string, message: string) =>
  new PigeonError('PIGEON_ERR_VALIDATION', `"${field.slice(1)}" ${message}`, {
    errors: [{ field, message }],
  });

/**
 * Checks a message's `clientRef` and `metadata` against the limits above and returns them as
 * given. Throws PIGEON_ERR_VALIDATION naming the field.
 */
export function requireClientReference(input: ClientReference): ClientReference {
  const reference: ClientReference = {};
  if (input.clientRef !== undefined) {
    const ref = input.clientRef;
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > MAX_CLIENT_REF_LENGTH) {
      throw invalid('/clientRef', `must be 1–${MAX_CLIENT_REF_LENGTH} characters`);
    }
    if (UNPRINTABLE.test(ref)) throw invalid('/clientRef', 'must be printable text');
    reference.clientRef = ref;
  }
  if (input.metadata !== undefined) {
    const metadata = input.metadata as unknown;
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw invalid('/metadata', 'must be an object of strings');
    }
    const entries = Object.entries(metadata);
    if (entries.length > MAX_METADATA_KEYS) {
      throw invalid('/metadata', `has more than ${MAX_METADATA_KEYS} keys`);
    }
    for (const [key, value] of entries) {
      if (key.length === 0 || key.length > MAX_METADATA_KEY_LENGTH || UNPRINTABLE.test(key)) {
        throw invalid(`/metadata/${key}`, `keys are 1–${MAX_METADATA_KEY_LENGTH} printable characters`);
      }
      if (typeof value !== 'string' || value.length > MAX_METADATA_VALUE_LENGTH) {
        throw invalid(
          `/metadata/${key}`,
          `values are strings of at most ${MAX_METADATA_VALUE_LENGTH} characters`,
        );
      }
    }
    if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
      throw invalid('/metadata', `is larger than ${MAX_METADATA_BYTES} bytes as JSON`);
    }
    reference.metadata = { ...(metadata as Metadata) };
  }
  return reference;
}

/** Metadata as stored (JSON text), null when a message has none. */
export function metadataColumn(metadata: Metadata | undefined): string | null {
  return metadata === undefined ? null : JSON.stringify(metadata);
}

/** Stored metadata back as an object; null for none (or for a value no version ever wrote). */
export function parseMetadataColumn(text: string | null): Metadata | null {
  if (text === null || text === '') return null;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Metadata) : null;
  } catch {
    return null;
  }
}
