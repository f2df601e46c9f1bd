import { hash } from 'node:crypto';

/** SHA-256's block size in bytes: an HMAC key longer than this is hashed first (RFC 2104). */
const BLOCK = 64;

/**
 * HMAC-SHA-256 under one fixed key, for the keyed hashes taken once or more per message: the dedup
 * fingerprint, an OTP code's stored digest, a provider receipt's signature, a status callback's.
 * The key's inner and outer pads are computed once; each digest is then two one-shot `crypto.hash`
 * calls, with no Hmac stream object or MAC context made per message as `createHmac` makes them.
 * The output is HMAC-SHA-256 exactly (RFC 2104; tested against RFC 4231's vectors and `createHmac`).
 */
export class HmacSha256 {
  readonly #innerPad: Buffer;
  readonly #outerPad: Buffer;

  constructor(key: string | Uint8Array) {
    let bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
    if (bytes.length > BLOCK) bytes = hash('sha256', bytes, 'buffer');
    this.#innerPad = Buffer.alloc(BLOCK, 0x36);
    this.#outerPad = Buffer.alloc(BLOCK, 0x5c);
    for (let i = 0; i < bytes.length; i++) {
      this.#innerPad[i]! ^= bytes[i]!;
      this.#outerPad[i]! ^= bytes[i]!;
    }
  }

  /** The MAC of `message` (UTF-8), base64url without padding or, when asked, hex. */
  digest(message: string, encoding: 'base64url' | 'hex' = 'base64url'): string {
    const length = Buffer.byteLength(message, 'utf8');
    const inner = Buffer.allocUnsafe(BLOCK + length);
    this.#innerPad.copy(inner, 0);
    inner.write(message, BLOCK, 'utf8');
    const outer = Buffer.allocUnsafe(BLOCK + 32);
    this.#outerPad.copy(outer, 0);
    hash('sha256', inner, 'buffer').copy(outer, BLOCK);
    return hash('sha256', outer, encoding);
  }
}

const byKey = new Map<string | Uint8Array, HmacSha256>();

/** Keys kept at most: a tenant's webhook secret each, a provider's receipt secret each, and ours. */
const MAX_KEYS = 1_024;

/**
 * The HmacSha256 for `key`, made once per key (a string, or the same buffer): the dedup and OTP
 * keys, each provider's receipt secret, each tenant's webhook secret. At the bound the map starts
 * over, which also keeps a caller that passes fresh buffers from growing it.
 */
export function hmacSha256(key: string | Uint8Array): HmacSha256 {
  let hmac = byKey.get(key);
  if (hmac === undefined) {
    if (byKey.size >= MAX_KEYS) byKey.clear();
    hmac = new HmacSha256(key);
    byKey.set(key, hmac);
  }
  return hmac;
}
