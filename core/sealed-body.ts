import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM envelopes for secrets that must cross or rest in systems that should not read them:
 * OTP message bodies on Kafka (only the api and the supplier bridge hold PIGEON_BODY_KEY) and TOTP
 * secrets in the database. Format: `enc:v1:` + base64url(iv ‖ ciphertext ‖ tag), with a random
 * 96-bit IV per message; the version names the format and key generation, so a later rotation
 * can add `v2` and still read `v1`.
 */
export const SEALED_PREFIX = 'enc:v1:';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SealedBodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedBodyError';
  }
}

// Importing raw key bytes costs more than sealing a short text; each key is imported once.
const keyObjects = new WeakMap<Buffer, KeyObject>();

function aesKey(key: Buffer): KeyObject {
  let object = keyObjects.get(key);
  if (object === undefined) {
    if (key.length !== 32) throw new SealedBodyError(`AES-256-GCM needs a 32-byte key, got ${key.length}`);
    object = createSecretKey(key);
    keyObjects.set(key, object);
  }
  return object;
}

export function isSealed(text: string): boolean {
  return text.startsWith(SEALED_PREFIX);
}

/** Encrypts `plain` under `key` (32 bytes). */
export function sealBody(plain: string, key: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', aesKey(key), iv);
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return SEALED_PREFIX + Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url');
}

/**
 * The text of a sealed body; a body that was never sealed is returned as it is, so the bridge can
 * pass every message through this (only OTP bodies are sealed). Throws SealedBodyError when a
 * sealed body was tampered with or sealed under another key.
 */
export function openBody(body: string, key: Buffer): string {
  return isSealed(body) ? openSealed(body, key) : body;
}

/** Like openBody, but refuses text that is not sealed (for values that are always sealed). */
export function openSealed(sealed: string, key: Buffer): string {
  const secretKey = aesKey(key);
  if (!isSealed(sealed)) throw new SealedBodyError('not a sealed value');
  const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new SealedBodyError('sealed value is truncated');
  const decipher = createDecipheriv('aes-256-gcm', secretKey, raw.subarray(0, IV_BYTES));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new SealedBodyError('sealed value does not authenticate under this key');
  }
}
