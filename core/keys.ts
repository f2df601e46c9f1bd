import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Decodes key material given as hex or base64 (standard or url-safe). Returns the bytes, or a
 * sentence saying what is wrong, for configuration errors that name the variable.
 */
export function decodeKey(raw: string, size: { exactBytes?: number; minBytes?: number }): Buffer | string {
  const text = raw.trim();
  let bytes: Buffer | undefined;
  if (HEX.test(text) && text.length >= 64) bytes = Buffer.from(text, 'hex');
  else if (BASE64.test(text)) bytes = Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
  if (!bytes || bytes.length === 0) return 'expected hex or base64 key material';
  if (size.exactBytes !== undefined && bytes.length !== size.exactBytes) {
    return `expected exactly ${size.exactBytes} bytes (e.g. \`openssl rand -base64 ${size.exactBytes}\`), got ${bytes.length}`;
  }
  if (size.minBytes !== undefined && bytes.length < size.minBytes) {
    return `expected at least ${size.minBytes} bytes (e.g. \`openssl rand -base64 ${size.minBytes}\`), got ${bytes.length}`;
  }
  return bytes;
}

/** Like decodeKey, for values config.ts already validated. */
export function keyBytes(raw: string, size: { exactBytes?: number; minBytes?: number }): Buffer {
  const decoded = decodeKey(raw, size);
  if (typeof decoded === 'string') throw new Error(decoded);
  return decoded;
}

/**
 * A 32-byte key kept in `dir/name` (mode 0600), created on first use: embedded mode's stand-in for
 * a key the operator would otherwise provide, stable across restarts like the generated API key.
 */
export function loadOrCreateKeyFile(dir: string, name: string): Buffer {
  const file = join(dir, name);
  const read = () => keyBytes(readFileSync(file, 'utf8'), { exactBytes: 32 });
  if (existsSync(file)) return read();
  mkdirSync(dir, { recursive: true });
  const key = randomBytes(32);
  // Written whole to a temporary name and linked into place, which fails if the name exists: of
  // processes starting together (API workers), one key wins and all of them use it.
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, `${key.toString('base64')}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  try {
    linkSync(temporary, file);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return read();
  } finally {
    unlinkSync(temporary);
  }
}
