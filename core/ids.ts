import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base32
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

// Filling 4 KiB of CSPRNG output at once costs about what 10 bytes do, and this runs twice per
// accepted message: drawing from a pool keeps id generation off the request's hot path.
function randomBytes10(): Buffer {
  if (poolOffset + 10 > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 10);
  poolOffset += 10;
  return bytes;
}

let lastTime = -1;
const lastRandom = new Uint8Array(10);

/**
 * Sortable unique id (ULID: 48-bit ms timestamp + 80 random bits, 26 Crockford base32 chars).
 * Ids made in the same millisecond increment the random part, so they still sort in creation
 * order and cursors paginate by id.
 */
export function newId(now = Date.now()): string {
  if (now <= lastTime) {
    // Monotonic within a millisecond (or a clock step back): add one to the 80-bit random part.
    for (let i = 9; i >= 0; i--) {
      if (lastRandom[i] === 255) lastRandom[i] = 0;
      else {
        lastRandom[i]!++;
        break;
      }
    }
  } else {
    lastTime = now;
    lastRandom.set(randomBytes10());
  }
  return encodeTime(lastTime) + encodeRandom(lastRandom);
}

/**
 * The id of millisecond `ms` whose random part is the first 10 bytes of `seed`: the same inputs
 * give the same id, so an event that several processes may each make once (a receipt deadline)
 * is one event wherever it is deduplicated by id.
 */
export function idOf(ms: number, seed: Uint8Array): string {
  if (seed.length < 10) throw new RangeError('idOf needs 10 bytes of seed');
  return encodeTime(Math.max(0, Math.min(ms, MAX_TIME))) + encodeRandom(seed.subarray(0, 10));
}

/** The largest time a ULID can encode (48 bits). */
const MAX_TIME = 2 ** 48 - 1;

/**
 * The smallest id of millisecond `ms`: ids made at or after `ms` sort at or above it, so a time
 * range over ids (ULIDs) becomes an index range over the primary key.
 */
export function idFloor(ms: number): string {
  return encodeTime(Math.max(0, Math.min(ms, MAX_TIME))) + '0'.repeat(16);
}

/** The creation time (ms) an id carries in its first 10 characters. */
export function timeOfId(id: string): number {
  let ms = 0;
  for (const char of id.slice(0, 10)) ms = ms * 32 + ALPHABET.indexOf(char);
  return ms;
}

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits = 16 base32 characters, 5 bits at a time, most significant first.
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31]!;
    }
    buffer &= (1 << bits) - 1;
  }
  return out;
}
