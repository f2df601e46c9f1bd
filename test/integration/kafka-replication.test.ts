/**
 * The bus on a replicated cluster (test/kafka/cluster.sh: three KRaft nodes, replication 3,
 * min.insync.replicas 2), as production runs it: topics are created with the configured copies,
 * the partition leader can be killed while records are published without losing an acknowledged
 * one, a publish with two brokers down is refused rather than half-written, and a killed broker
 * comes back on its own data and rejoins the in-sync replicas.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import type { ConsumedRecord } from '../../core/bus/bus.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { uniqueSuffix } from '../support/infra.ts';
import { sleep, waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const CLUSTER = 'test/kafka/cluster.sh';

async function cluster(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [CLUSTER, ...args], { timeout: 180_000 });
  return stdout.trim();
}

let brokers: string[] = [];
const kafka = () => new Kafka({ brokers, logLevel: logLevel.NOTHING, retry: { retries: 3 } });

/** Leader and in-sync replicas of each partition of `topic`, from the cluster's metadata. */
async function partitions(topic: string): Promise<{ partitionId: number; leader: number; isr: number[] }[]> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0]!.partitions.map(({ partitionId, leader, isr }) => ({ partitionId, leader, isr }));
  } finally {
    await admin.disconnect();
  }
}

/**
 * `sendRetries`: 20 by default, about 9 s of retries (0.5 s apart at most) to ride out a leader's
 * election after a kill. Fewer where every attempt is expected to fail slowly: with two of three
 * nodes down the controller quorum is gone too, the in-sync set cannot shrink, and each acks=all
 * attempt waits out its request timeout for a replica that is dead.
 */
function newBus(tag: string, sendRetries = 20): KafkaBus {
  return new KafkaBus({
    brokers,
    clientId: `replication-${tag}`,
    replicationFactor: 3,
    minInsyncReplicas: 2,
    sendRetries,
  });
}

/** Every record of `topic`, read from the beginning until `expected` have come or 60 s pass. */
async function readAll(bus: KafkaBus, topic: string, expected: number): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  const subscription = await bus.subscribe({
    groupId: `replication-reader-${uniqueSuffix()}`,
    topics: [topic],
    handler: async (batch) => {
      records.push(...batch.records);
    },
  });
  try {
    await waitFor(() => records.length >= expected, 60_000, `${expected} records of ${topic}`);
    await sleep(1_000); // anything beyond the expected count (a duplicate) shows up too
  } finally {
    await subscription.close();
  }
  return records;
}

describe('bus on a 3-broker cluster (replication 3, min.insync.replicas 2)', { timeout: 600_000 }, () => {
  before(async () => {
    await cluster('start');
    brokers = (await cluster('brokers')).split(',');
  });
  after(async () => {
    await cluster('destroy');
  });

  test('topics are created with three copies and min.insync.replicas 2', async () => {
    const topic = `replicated-${uniqueSuffix()}`;
    const bus = newBus('create');
    try {
      await bus.ensureTopics([{ name: topic, partitions: 3 }]);
    } finally {
      await bus.close();
    }
    const admin = kafka().admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      for (const partition of topics[0]!.partitions) assert.equal(partition.replicas.length, 3);
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: topic, configNames: ['min.insync.replicas'] }],
      });
      assert.equal(resources[0]!.configEntries[0]!.configValue, '2');
    } finally {
      await admin.disconnect();
    }
  });

  test('the leader killed mid-stream: every acknowledged record is stored exactly once', async () => {
    const topic = `leader-kill-${uniqueSuffix()}`;
    const bus = newBus('leader-kill');
    const acknowledged = new Set<string>();
    const refused = new Set<string>();
    let victim = 0;
    try {
      await bus.ensureTopics([{ name: topic, partitions: 1 }]);
      victim = (await partitions(topic))[0]!.leader;
      const publishes: Promise<void>[] = [];
      for (let i = 0; i < 3_000; i++) {
        const key = `m-${i}`;
        publishes.push(
          bus.publish(topic, [{ key, value: key }]).then(
            () => void acknowledged.add(key),
            () => void refused.add(key),
          ),
        );
        if (i % 100 === 99) await sleep(20);
        if (i === 1_000) await cluster('kill', String(victim));
      }
      await Promise.all(publishes);
      // Publishes in flight while the leader died may be refused (the api answers those 503);
      // once another broker leads, every publish is acknowledged again.
      await waitFor(
        async () => (await partitions(topic))[0]!.leader !== victim,
        30_000,
        'a new partition leader',
      );
      for (let i = 3_000; i < 3_200; i++) {
        const key = `m-${i}`;
        await bus.publish(topic, [{ key, value: key }]);
        acknowledged.add(key);
      }

      const stored = await readAll(bus, topic, acknowledged.size);
      const counts = new Map<string, number>();
      for (const record of stored) counts.set(record.key, (counts.get(record.key) ?? 0) + 1);
      const lost = [...acknowledged].filter((key) => !counts.has(key));
      const duplicated = [...counts].filter(([, count]) => count > 1).map(([key]) => key);
      const unexplained = [...counts.keys()].filter((key) => !acknowledged.has(key) && !refused.has(key));
      assert.deepEqual(lost, [], 'no acknowledged record lost');
      assert.deepEqual(duplicated, [], 'the idempotent producer wrote nothing twice');
      assert.deepEqual(unexplained, []);
    } finally {
      await bus.close();
      if (victim) await cluster('resume', String(victim));
    }

    // Back on its own data, the killed broker catches up and is in sync again.
    await waitFor(
      async () => (await partitions(topic)).every((partition) => partition.isr.length === 3),
      60_000,
      'the restarted broker back in the in-sync replicas',
    );
  });

  test('with two brokers down a publish is refused, and succeeds once one is back', async () => {
    const topic = `min-isr-${uniqueSuffix()}`;
    const bus = newBus('min-isr', 2);
    const stopped: string[] = [];
    try {
      await bus.ensureTopics([{ name: topic, partitions: 1 }]);
      const leader = (await partitions(topic))[0]!.leader;
      const others = ['1', '2', '3'].filter((node) => node !== String(leader));
      for (const node of others) {
        await cluster('kill', node);
        stopped.push(node);
      }
      await assert.rejects(
        bus.publish(topic, [{ key: 'alone', value: 'one copy is not enough' }]),
        'acks=all with one in-sync replica of the two required',
      );
      await cluster('resume', stopped.pop()!);
      await waitFor(
        async () => (await partitions(topic))[0]!.isr.length >= 2,
        60_000,
        'two in-sync replicas again',
      );
      await bus.publish(topic, [{ key: 'back', value: 'two copies' }]);
      const stored = await readAll(bus, topic, 1);
      assert.ok(
        stored.some((record) => record.key === 'back'),
        'the publish after recovery is stored',
      );
    } finally {
      await bus.close();
      for (const node of stopped) await cluster('resume', node);
    }
  });
});
