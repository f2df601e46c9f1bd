/**
 * A consumer process for crash tests: joins GROUP on TOPIC over the real Kafka bus and, for every
 * record it handles, appends `partition:offset` to OUT once the record's simulated work is done.
 * The parent kills it with SIGKILL part-way and reads OUT to see what was handled, and how often.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';

const { BROKERS, GROUP, TOPIC, OUT } = process.env;
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
  handler: async (batch) => {
    for (const record of batch.records) {
      await sleep(1);
      appendFileSync(OUT, `${record.partition}:${record.offset}\n`);
    }
  },
});
process.stdout.write('subscribed\n');
