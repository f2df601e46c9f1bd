import { randomInt } from 'node:crypto';
import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`) of a record key's UTF-8 bytes, as a signed
 * 32-bit integer. The same hash as kafkajs' own (`partitioners/default/murmur2.js`), which does
 * the arithmetic on 64-bit `Long` objects and so allocates a dozen of them per key; 32-bit
 * multiplication (`Math.imul`) gives the same low 32 bits, which is all the hash keeps. Keys that
 * are ASCII (message ids, numbers, tenant ids) are read as they are, without a Buffer.
 */
export function murmur2(key: string | Buffer): number {
  if (typeof key !== 'string') return hash(key, byteAt, key.length);
  if (isAscii(key)) return hash(key, charAt, key.length);
  const bytes = Buffer.from(key);
  return hash(bytes, byteAt, bytes.length);
}

const byteAt = (bytes: string | Buffer, i: number): number => (bytes as Buffer)[i]!;
const charAt = (text: string | Buffer, i: number): number => (text as string).charCodeAt(i);

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

function hash(key: string | Buffer, at: (key: string | Buffer, i: number) => number, length: number): number {
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = at(key, i) | (at(key, i + 1) << 8) | (at(key, i + 2) << 16) | (at(key, i + 3) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The last one to three bytes (the Java code's switch with fall-through).
  const rest = length & 3;
  if (rest === 3) h ^= at(key, whole + 2) << 16;
  if (rest >= 2) h ^= at(key, whole + 1) << 8;
  if (rest >= 1) h = Math.imul(h ^ at(key, whole), M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * The producer's partitioner: the rules of kafkajs' `DefaultPartitioner` (and the Java client's),
 * so a key lands on the partition every Kafka client puts it on — an explicit partition first,
 * then murmur2 of the key modulo the topic's partition count, and round robin over the partitions
 * with a leader for a record without a key. kafkajs' version filtered the partition list and ran
 * its `Long`-based hash for every record it sends; this one allocates nothing per keyed record.
 */
export const KeyPartitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const count = partitionMetadata.length;
    if (message.key !== null && message.key !== undefined) return (murmur2(message.key) & 0x7fffffff) % count;
    const next = (counters.get(topic) ?? randomInt(2 ** 31)) + 1;
    counters.set(topic, next);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    if (available.length > 0) return available[(next & 0x7fffffff) % available.length]!.partitionId;
    return (next & 0x7fffffff) % count;
  };
};
