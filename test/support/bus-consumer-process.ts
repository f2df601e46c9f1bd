/**
 * A consumer process for crash tests: joins GROUP on TOPIC over the real Kafka bus and, for every
 * record it handles, appends `partition:offset` to OUT once the record's simulated work is done.
 * The parent kills it with SIGKILL part-way and reads OUT to see what was handled, and how often.
 * BATCHES (default 1) is how many batches of a partition it handles at once; with more than one,
 * each batch first waits a random few milliseconds, so they finish out of order.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';

const { BROKERS, GROUP, TOPIC, OUT, BATCHES } = process.env;
const batchesAtOnce = Number(BATCHES ?? 1);
if (!BROKERS || !GROUP || !TOPIC || !OUT) throw new Error('BROKERS, GROUP, TOPIC and OUT are required');

// The broker's smallest session timeout, so that a killed member's partitions move on quickly.
const bus = new KafkaBus({
  brokers: BROKERS.split(','),
  clientId: 'crash-consumer',
  sessionTimeoutMs: 6_000,
});
await bus.subscribe({
  groupId: GROUP,
  topics: [TOPIC],
  batchesAtOnce,
  handler: async (batch) => {
    if (batchesAtOnce > 1) await sleep(Math.random() * 20);
    for (const record of batch.records) {
      await sleep(1);
      appendFileSync(OUT, `${record.partition}:${record.offset}\n`);
    }
  },
});
process.stdout.write('subscribed\n');
