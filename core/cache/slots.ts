/**
 * Redis Cluster key slots. A Lua script, a MULTI or any command naming several keys runs on one
 * node, so on a cluster all its keys must hash to one slot, or Redis refuses it with CROSSSLOT.
 * Keys that are used together therefore share a hash tag: the part between the first `{` and the
 * next `}`, the only part of such a key that Redis hashes. The deployment's key prefix
 * (PIGEON_REDIS_KEY_PREFIX, no braces allowed) goes in front and does not change the slot.
 */

export const SLOT_COUNT = 16_384;

/** `{value}`: the hash tag that puts every key containing it in one slot. */
export function hashTag(value: string): string {
  return `{${value}}`;
}

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes with.
const TABLE = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  TABLE[byte] = crc & 0xffff;
}

/** The CRC16 Redis Cluster uses, over the key's UTF-8 bytes. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/** The slot Redis Cluster stores `key` in (CLUSTER KEYSLOT), hash tags included. */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    // An empty tag (`{}`) or an unclosed brace is no tag: the whole key is hashed.
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % SLOT_COUNT;
  }
  return crc16(bytes) % SLOT_COUNT;
}

/** The key's non-empty hash tag (what is between its first `{` and the next `}`), else undefined. */
function tagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/**
 * Throws when `keys` do not all hash to one slot. Both caches check every script's KEYS, so a
 * script call site that would fail on a cluster fails in every test that runs it, even on a
 * single Redis or the memory cache.
 */
export function assertOneSlot(scriptName: string, keys: readonly string[]): void {
  if (keys.length < 2) return;
  // Every send's script names five or so keys of one tenant tag: keys with the same tag share a
  // slot by definition, so the common case needs no UTF-8 copy and CRC per key.
  const tag = tagOf(keys[0]!);
  if (tag !== undefined && keys.every((key) => tagOf(key) === tag)) return;
  const first = keySlot(keys[0]!);
  for (let i = 1; i < keys.length; i++) {
    if (keySlot(keys[i]!) !== first) {
      throw new Error(
        `script ${scriptName}: its keys must share one Redis Cluster hash slot; "${keys[0]}" and "${keys[i]}" do not (give them one hash tag, core/cache/slots.ts)`,
      );
    }
  }
}
