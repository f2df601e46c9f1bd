import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../../test/support/infra.ts';
import { waitFor } from '../../test/support/wait.ts';
import type { Bus } from './bus.ts';
import { isServiceGroup, KafkaLagReader, type LagReader, MemoryLagReader } from './lag.ts';
import { KafkaBus } from './kafka-bus.ts';
import { MemoryBus } from './memory-bus.ts';

test('service groups are told from per-process ones', () => {
  assert.ok(isServiceGroup('pigeon-persister', 'pigeon'));
  assert.ok(isServiceGroup('pigeon-bridge.high', 'pigeon'));
  assert.ok(!isServiceGroup('pigeon-bridge.health.3f2c1a9e-0b6d-4c1e-9a57-2f8d1e6c4b10', 'pigeon'));
  assert.ok(!isServiceGroup('pigeon-monitor.3f2c1a9e-0b6d-4c1e-9a57-2f8d1e6c4b10', 'pigeon'));
  assert.ok(!isServiceGroup('other-persister', 'pigeon'));
});

/** A group that reads 3 of 10 records and stops: 7 left. */
async function lagOf(bus: Bus, reader: LagReader, prefix: string): Promise<void> {
  const topic = `lag-test-${uniqueSuffix()}`;
  await bus.ensureTopics([{ name: topic, partitions: 2 }]);
  await bus.publish(
    topic,
    Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 2}`, value: String(i) })),
  );
  let read = 0;
  let stop = false;
  const sub = await bus.subscribe({
    groupId: `${prefix}-tester`,
    topics: [topic],
    fromBeginning: true,
    handler: async (batch) => {
      // Commits only whole batches: take the first batch of each partition, then refuse the rest.
      if (stop || read >= 3) {
        stop = true;
        throw new Error('stop here');
      }
      read += batch.records.length;
    },
  });
  await waitFor(() => stop || read >= 10, 10_000, 'the tester to read');
  await sub.close();
  await sleep(50);
  await waitFor(
    async () => {
      const lags = (await reader.read()).filter((l) => l.topic === topic);
      return lags.length === 1 && lags[0]!.group === `${prefix}-tester` && lags[0]!.lag === 10 - read;
    },
    10_000,
    `a lag of ${10 - read}`,
  );
}

test('memory bus: the lag of a service group, from its commits', async () => {
  const bus = new MemoryBus({ defaultPartitions: 2 });
  await lagOf(bus, new MemoryLagReader(bus, 'pigeon'), 'pigeon');
  await bus.close();
});

test('kafka: the lag of a service group, from its committed offsets and the high watermarks', async () => {
  const prefix = `lagtest${uniqueSuffix().replace(/[0-9]/g, 'x')}`;
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'lag-test' });
  const reader = new KafkaLagReader({ brokers: TEST_KAFKA_BROKERS, groupPrefix: prefix });
  try {
    await lagOf(bus, reader, prefix);
  } finally {
    await reader.close();
    await bus.close();
  }
});
