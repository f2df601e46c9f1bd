import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { type PartitionerArgs, type PartitionMetadata, Partitioners } from 'kafkajs';
import { KeyPartitioner, murmur2 } from './key-partitioner.ts';

const require = createRequire(import.meta.url);
// kafkajs' own hash (with its DefaultPartitioner below): the reference every key must agree with.
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  key: string | Buffer,
) => number;

const metadata = (count: number, leaderless: number[] = []): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: leaderless.includes(partitionId) ? -1 : 0,
    replicas: [0],
    isr: [0],
  }));

test('murmur2 matches the Java client’s vectors', () => {
  // Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, expected] of vectors) assert.equal(murmur2(key), expected, key);
});

test('murmur2 agrees with kafkajs’ hash on keys of every length, ASCII or not, string or bytes', () => {
  const alphabet = 'abcXYZ0189+-:_ éü€𝄞日本';
  for (let length = 0; length < 64; length++) {
    for (let round = 0; round < 20; round++) {
      const chars = Array.from({ length }, () => alphabet[Math.floor(Math.random() * alphabet.length)]);
      const text = chars.join('');
      assert.equal(murmur2(text), kafkajsMurmur2(text), JSON.stringify(text));
      const bytes = randomBytes(length);
      assert.equal(murmur2(bytes), kafkajsMurmur2(bytes), bytes.toString('hex'));
    }
  }
});

test('keyed records land where kafkajs’ DefaultPartitioner puts them', () => {
  const ours = KeyPartitioner();
  const theirs = Partitioners.DefaultPartitioner();
  for (const count of [1, 3, 6, 12, 50]) {
    const partitionMetadata = metadata(count);
    for (let i = 0; i < 2000; i++) {
      const key = i % 2 ? `01J${randomBytes(12).toString('hex').toUpperCase()}` : `+1415555${i}`;
      const args: PartitionerArgs = { topic: 't', partitionMetadata, message: { key, value: 'v' } };
      assert.equal(ours(args), theirs(args), `${key} over ${count}`);
    }
  }
});

test('an explicit partition wins; keyless records go round the partitions that have a leader', () => {
  const partition = KeyPartitioner();
  const partitionMetadata = metadata(6, [1, 4]);
  assert.equal(
    partition({ topic: 't', partitionMetadata, message: { key: 'k', value: 'v', partition: 4 } }),
    4,
  );
  const seen = Array.from({ length: 40 }, () =>
    partition({ topic: 't', partitionMetadata, message: { value: 'v' } }),
  );
  assert.deepEqual([...new Set(seen)].sort(), [0, 2, 3, 5]);
  for (let i = 1; i < seen.length; i++) {
    const step = ([0, 2, 3, 5].indexOf(seen[i]!) - [0, 2, 3, 5].indexOf(seen[i - 1]!) + 4) % 4;
    assert.equal(step, 1, 'round robin, one partition after the other');
  }
  const none = metadata(3, [0, 1, 2]);
  const value = partition({ topic: 'u', partitionMetadata: none, message: { value: 'v' } });
  assert.ok(value >= 0 && value < 3, 'no leader anywhere: still a partition of the topic');
});
