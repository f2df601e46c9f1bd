/**
 * The contract of core/bus/bus.ts, run against the in-process bus and a real Kafka broker
 * (TEST_KAFKA_BROKERS; `bash test/kafka/kafka.sh start`). Every test uses its own topic and group.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Bus, BusRecord, ConsumedBatch, ConsumedRecord, Subscription } from '../../core/bus/bus.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { MemoryBus } from '../../core/bus/memory-bus.ts';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../support/infra.ts';
import { sleep, waitFor } from '../support/wait.ts';

const PARTITIONS = 3;
const WAIT_MS = 30_000;

function busContract(name: string, createBus: () => Bus): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    const open: Subscription[] = [];

    before(() => {
      bus = createBus();
    });

    after(async () => {
      await Promise.all(open.map((subscription) => subscription.close()));
      await bus.close();
    });

    async function newTopic(label: string): Promise<string> {
      const topic = `contract.${label}.${uniqueSuffix()}`;
      await bus.ensureTopics([
        { name: topic, partitions: PARTITIONS, config: { 'message.timestamp.type': 'LogAppendTime' } },
      ]);
      return topic;
    }

    /** Subscribes a handler that records every batch it sees (after `handle` accepts it). */
    async function collect(
      topic: string,
      options: { groupId?: string; handle?: (batch: ConsumedBatch) => Promise<void> | void } = {},
    ) {
      const batches: ConsumedBatch[] = [];
      const records: ConsumedRecord[] = [];
      const subscription = await bus.subscribe({
        groupId: options.groupId ?? `contract-${uniqueSuffix()}`,
        topics: [topic],
        fromBeginning: true,
        handler: async (batch) => {
          await options.handle?.(batch);
          batches.push(batch);
          records.push(...batch.records);
        },
      });
      open.push(subscription);
      return { subscription, batches, records };
    }

    test('a published and acknowledged record reaches a consumer started later, intact', async () => {
      const topic = await newTopic('roundtrip');
      const before = Date.now();
      await bus.publish(topic, [
        { key: 'k1', value: 'hello', headers: { 'x-trace': 't-1', 'x-kind': 'greeting' } },
        { key: 'k2', value: '{"json":true}' },
      ]);
      const { records } = await collect(topic);
      await waitFor(() => records.length >= 2, WAIT_MS, 'two records consumed');
      assert.equal(records.length, 2);
      const byKey = new Map(records.map((record) => [record.key, record]));
      const first = byKey.get('k1')!;
      assert.equal(first.value, 'hello');
      assert.deepEqual(first.headers, { 'x-trace': 't-1', 'x-kind': 'greeting' });
      assert.equal(first.topic, topic);
      assert.ok(first.partition >= 0 && first.partition < PARTITIONS);
      assert.match(first.offset, /^\d+$/);
      assert.equal(byKey.get('k2')!.value, '{"json":true}');
      for (const record of records) {
        assert.ok(
          record.timestamp >= before - 1000 && record.timestamp <= Date.now() + 1000,
          `timestamp ${record.timestamp} is the append time`,
        );
      }
    });

    test('records with one key arrive in publish order', async () => {
      const topic = await newTopic('order');
      const keys = ['a', 'b', 'c', 'd', 'e'];
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => bus.publish(topic, [{ key: keys[i % 5]!, value: String(i) }])),
      );
      const { records } = await collect(topic);
      await waitFor(() => records.length >= 200, WAIT_MS, '200 records consumed');
      assert.equal(records.length, 200);
      for (const key of keys) {
        const values = records.filter((record) => record.key === key).map((record) => Number(record.value));
        assert.equal(values.length, 40);
        assert.deepEqual(
          values,
          [...values].sort((x, y) => x - y),
          `key ${key} in publish order`,
        );
        const partitions = new Set(records.filter((record) => record.key === key).map((r) => r.partition));
        assert.equal(partitions.size, 1, `key ${key} stays on one partition`);
      }
    });

    test('a handler that throws sees the same batch again; nothing is lost or skipped', async () => {
      const topic = await newTopic('redeliver');
      const sent: BusRecord[] = Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 6}`, value: `v${i}` }));
      await bus.publish(topic, sent);
      const failures = new Map<number, ConsumedBatch[]>();
      const { records } = await collect(topic, {
        handle: (batch) => {
          const failed = failures.get(batch.partition) ?? [];
          // Fail twice per partition, to see that redelivery keeps going past the first retry.
          if (failed.length < 2) {
            failed.push(batch);
            failures.set(batch.partition, failed);
            // A TypeError on the second try: kafkajs treats those as fatal if they reach it.
            throw failed.length === 1 ? new Error('handler failure') : new TypeError('handler bug');
          }
          const [firstFailed] = failed;
          for (const seen of failed) {
            assert.equal(seen.records[0]!.offset, firstFailed!.records[0]!.offset);
          }
        },
      });
      await waitFor(() => records.length >= sent.length, WAIT_MS, 'all records consumed after failures');
      await sleep(300);
      assert.equal(records.length, sent.length, 'no record delivered twice after a success');
      assert.deepEqual(records.map((r) => r.value).sort(), sent.map((r) => r.value).sort());
      for (const [partition, failed] of failures) {
        const delivered = records.filter((record) => record.partition === partition);
        // The batch that failed comes back from its first offset, unchanged as a prefix.
        const failedValues = failed[0]!.records.map((record) => record.value);
        assert.deepEqual(
          delivered.slice(0, failedValues.length).map((record) => record.value),
          failedValues,
        );
        const offsets = delivered.map((record) => BigInt(record.offset));
        for (let i = 1; i < offsets.length; i++) assert.equal(offsets[i], offsets[i - 1]! + 1n);
      }
    });

    test('a new member of a group resumes at the committed offset', async () => {
      const topic = await newTopic('resume');
      const groupId = `contract-resume-${uniqueSuffix()}`;
      const first = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 7}`, value: `first-${i}` }));
      const second = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 7}`, value: `second-${i}` }));
      await bus.publish(topic, first);
      const one = await collect(topic, { groupId });
      await waitFor(() => one.records.length >= 50, WAIT_MS, 'first 50 consumed');
      await one.subscription.close();
      assert.equal(one.records.length, 50);

      await bus.publish(topic, second);
      const two = await collect(topic, { groupId });
      await waitFor(() => two.records.length >= 50, WAIT_MS, 'second 50 consumed');
      await sleep(300);
      const values = two.records.map((record) => record.value);
      assert.equal(
        values.filter((value) => value.startsWith('first-')).length,
        0,
        'committed records are not delivered again',
      );
      assert.deepEqual(
        [...new Set(values)].sort(),
        second.map((record) => record.value).sort(),
        'every record after the commit is delivered',
      );
      if (bus.kind === 'memory') assert.equal(values.length, 50);
    });

    test('a subscription says it is consuming once it has joined and fetched, and not after close', async () => {
      const topic = await newTopic('consuming');
      await bus.publish(topic, [{ key: 'k', value: 'v' }]);
      const { subscription, records } = await collect(topic);
      await waitFor(() => records.length === 1, WAIT_MS, 'the record consumed');
      await waitFor(() => subscription.consuming(), WAIT_MS, 'consuming');
      assert.equal(subscription.state(), 'consuming');
      const listed = () => bus.consumers().filter((consumer) => consumer.topics.includes(topic));
      assert.deepEqual(
        listed().map(({ state }) => state),
        ['consuming'],
        'the bus lists the subscription as consuming',
      );
      await subscription.close();
      assert.equal(subscription.consuming(), false);
      assert.equal(subscription.state(), 'closed');
      assert.deepEqual(listed(), [], 'a closed subscription is no longer listed');
    });

    test('pause stops delivery of a topic and resume restarts it', async () => {
      const topic = await newTopic('pause');
      await bus.publish(topic, [{ key: 'warmup', value: 'w' }]);
      const { subscription, records } = await collect(topic);
      await waitFor(() => records.length === 1, WAIT_MS, 'warm-up record consumed');

      subscription.pause([topic]);
      // Let a fetch that was already on its way come back before publishing.
      await sleep(300);
      await bus.publish(
        topic,
        Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 4}`, value: `paused-${i}` })),
      );
      await sleep(1000);
      assert.equal(records.length, 1, 'nothing delivered while paused');

      subscription.resume([topic]);
      await waitFor(() => records.length === 21, WAIT_MS, 'records delivered after resume');
    });

    test('a deferred batch commits its due prefix and brings the rest back once due', async () => {
      const topic = await newTopic('defer');
      const publishedAt = Date.now();
      // One key, so all four land on one partition in order: two due now, two due in 1.5 s.
      await bus.publish(
        topic,
        [0, 0, 1500, 1500].map((delay, i) => ({
          key: 'same',
          value: `r${i}`,
          headers: { due: String(publishedAt + delay) },
        })),
      );
      const handled: Array<{ value: string; at: number }> = [];
      const lags: number[] = [];
      const subscription = await bus.subscribe({
        groupId: `contract-${uniqueSuffix()}`,
        topics: [topic],
        handler: async (batch) => {
          lags.push(batch.lag);
          for (const [index, record] of batch.records.entries()) {
            const due = Number(record.headers?.due);
            if (due > Date.now()) return { processed: index, retryAt: due };
            handled.push({ value: record.value, at: Date.now() });
          }
        },
      });
      open.push(subscription);
      await waitFor(() => handled.length >= 4, WAIT_MS, 'all four handled');
      await sleep(300);
      assert.deepEqual(
        handled.map((h) => h.value),
        ['r0', 'r1', 'r2', 'r3'],
        'each record handled once, in order',
      );
      for (const late of handled.slice(2)) {
        assert.ok(late.at >= publishedAt + 1500, 'a deferred record is not handled before it is due');
      }
      assert.ok(lags.every((lag) => lag >= 0));
    });

    /**
     * Which partition each key lands on, learnt by publishing one `probe` record per key and
     * reading them back with a group of its own (the partitioners differ between the buses).
     */
    async function partitionsOf(topic: string, keys: readonly string[]): Promise<Map<string, number>> {
      await bus.publish(
        topic,
        keys.map((key) => ({ key, value: 'probe' })),
      );
      const probes = await collect(topic);
      await waitFor(() => probes.records.length >= keys.length, WAIT_MS, 'probes consumed');
      await probes.subscription.close();
      return new Map(probes.records.map((record) => [record.key, record.partition]));
    }

    test("a handler still waiting on one partition does not hold back another partition's records", async () => {
      const topic = await newTopic('apart');
      const keys = Array.from({ length: 24 }, (_, i) => `k${i}`);
      const partitionOf = await partitionsOf(topic, keys);
      const slow = partitionOf.get('k0')!;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let hanging = false;
      const handled: ConsumedRecord[] = [];
      const subscription = await bus.subscribe({
        groupId: `contract-${uniqueSuffix()}`,
        topics: [topic],
        handler: async (batch) => {
          for (const record of batch.records) {
            if (record.value === 'hang') {
              hanging = true;
              // A provider that answers only at its timeout.
              await released;
            }
            if (record.value !== 'probe') handled.push(record);
          }
        },
      });
      open.push(subscription);
      await bus.publish(topic, [{ key: 'k0', value: 'hang' }]);
      await waitFor(() => hanging, WAIT_MS, 'the slow handler started');
      await bus.publish(
        topic,
        keys.map((key) => ({ key, value: `after-${key}` })),
      );
      const elsewhere = keys.filter((key) => partitionOf.get(key) !== slow);
      assert.ok(elsewhere.length > 0, 'some keys land on other partitions');
      await waitFor(
        () => elsewhere.every((key) => handled.some((record) => record.value === `after-${key}`)),
        WAIT_MS,
        'records of the other partitions handled while one partition hangs',
      );
      assert.ok(
        handled.every((record) => record.partition !== slow),
        'nothing behind the hanging record on its own partition is handled before it',
      );
      release();
      await waitFor(() => handled.length === keys.length + 1, WAIT_MS, 'the slow partition catches up');
      const onSlow = handled.filter((record) => record.partition === slow).map((record) => record.value);
      assert.equal(onSlow[0], 'hang', 'the slow partition keeps its order');
    });

    test('a record whose handler never finished comes back to the next member; handled ones do not', async () => {
      const topic = await newTopic('unfinished');
      const groupId = `contract-unfinished-${uniqueSuffix()}`;
      const keys = Array.from({ length: 24 }, (_, i) => `k${i}`);
      const partitionOf = await partitionsOf(topic, keys);
      const stuckPartition = partitionOf.get('k0')!;
      await bus.publish(topic, [
        { key: 'k0', value: 'stuck' },
        ...keys.map((key) => ({ key, value: `first-${key}` })),
      ]);
      let stuckStarted = false;
      const one = await collect(topic, {
        groupId,
        handle: async (batch) => {
          if (!batch.records.some((record) => record.value === 'stuck')) return;
          stuckStarted = true;
          // The member goes away before this handler finishes: it gives up when told it is stale.
          await waitFor(() => batch.isStale(), WAIT_MS, 'the batch going stale');
          throw new Error('abandoned while leaving');
        },
      });
      const elsewhere = keys.filter((key) => partitionOf.get(key) !== stuckPartition);
      await waitFor(
        () =>
          stuckStarted &&
          elsewhere.every((key) => one.records.some((record) => record.value === `first-${key}`)),
        WAIT_MS,
        'other partitions handled while one handler is stuck',
      );
      await one.subscription.close();
      assert.ok(
        one.records.every((record) => record.partition !== stuckPartition),
        'nothing of the stuck partition was handled',
      );

      const two = await collect(topic, { groupId });
      const expected = [
        'stuck',
        ...keys.filter((key) => partitionOf.get(key) === stuckPartition).map((key) => `first-${key}`),
      ];
      await waitFor(() => two.records.length >= expected.length, WAIT_MS, 'the unfinished records again');
      await sleep(300);
      const values = two.records.filter((record) => record.value !== 'probe').map((record) => record.value);
      assert.deepEqual(values, expected, 'exactly the unfinished partition, from the unfinished record on');
    });

    test('one publish larger than a produce request may carry resolves and arrives whole, in order', async () => {
      const topic = await newTopic('large');
      // 3 MB under one key: more than one request and more than the broker takes in one batch.
      const body = 'x'.repeat(1_000);
      const sent = Array.from({ length: 3_000 }, (_, i) => ({ key: 'one', value: `${i}:${body}` }));
      await bus.publish(topic, sent);
      const { records } = await collect(topic);
      await waitFor(() => records.length >= sent.length, WAIT_MS, 'every record consumed');
      assert.deepEqual(
        records.map((record) => Number(record.value.split(':')[0])),
        sent.map((_, i) => i),
      );
    });

    test('2,000 concurrent publishes all resolve and all arrive', async (t) => {
      const topic = await newTopic('burst');
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 2000 }, (_, i) =>
          bus.publish(topic, [{ key: `k${i % 50}`, value: `burst-${i}`, headers: { i: String(i) } }]),
        ),
      );
      const publishMs = performance.now() - started;
      const { records } = await collect(topic);
      await waitFor(() => records.length >= 2000, WAIT_MS, '2,000 records consumed');
      assert.equal(new Set(records.map((record) => record.value)).size, 2000);
      assert.equal(records.length, 2000);
      for (const record of records) assert.equal(record.value, `burst-${record.headers!.i}`);
      t.diagnostic(`${name}: 2,000 publishes acknowledged in ${publishMs.toFixed(0)} ms`);
    });
  });
}

busContract('memory', () => new MemoryBus());
busContract('kafka', () => new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'pigeon-contract' }));
