/**
 * Cost of choosing a record's partition in the producer: `KeyPartitioner`
 * (core/bus/key-partitioner.ts), the one the bus uses, against kafkajs' `DefaultPartitioner`,
 * which places every key on the same partition but hashes with 64-bit `Long` objects and filters
 * the partition list for each record. Every message costs three such choices (its request, its
 * outcome and its receipt). No I/O; one process; keys as the services send them: message ids, and
 * recipients for the inbound topic's.
 *
 *   node --import tsx bench/partitioner.ts
 *   BENCH_RECORDS=5000000 node --import tsx bench/partitioner.ts
 *
 * Ends with one JSON line: {"bench":"partitioner","ours":{…},"baseline":{…},"ratio":ours/baseline
 * records per CPU second}.
 */
import { type ICustomPartitioner, type PartitionMetadata, Partitioners } from 'kafkajs';
import { KeyPartitioner } from '../core/bus/key-partitioner.ts';
import { newId } from '../core/ids.ts';
import { envInt } from './support.ts';

const PARTITIONS = 6;

const partitionMetadata: PartitionMetadata[] = Array.from({ length: PARTITIONS }, (_, partitionId) => ({
  partitionErrorCode: 0,
  partitionId,
  leader: 0,
  replicas: [0],
  isr: [0],
}));

/** CPU ns per record of one partitioner over `keys`, after a warm-up; checks it placed every key. */
function measure(create: ICustomPartitioner, keys: readonly string[], records: number) {
  const partition = create();
  const place = (i: number) =>
    partition({
      topic: 'sms.outcomes',
      partitionMetadata,
      message: { key: keys[i % keys.length]!, value: null },
    });
  let sink = 0;
  for (let i = 0; i < 100_000; i++) sink += place(i);
  const before = process.cpuUsage();
  for (let i = 0; i < records; i++) sink += place(i);
  const cpu = process.cpuUsage(before);
  if (sink < 0) throw new Error('a record went to no partition');
  const cpuNs = (cpu.user + cpu.system) * 1000;
  return {
    ns_per_record: Math.round(cpuNs / records),
    records_per_cpu_s: Math.round(records / (cpuNs / 1e9)),
  };
}

function main(): void {
  const records = envInt('BENCH_RECORDS', 2_000_000);
  const now = Date.now();
  const keys = Array.from({ length: 10_000 }, (_, i) => (i % 10 === 0 ? `+1415555${1000 + i}` : newId(now)));
  const sample = keys.slice(0, 1_000);
  const [ours, theirs] = [KeyPartitioner(), Partitioners.DefaultPartitioner()];
  for (const key of sample) {
    const args = { topic: 't', partitionMetadata, message: { key, value: null } };
    if (ours(args) !== theirs(args)) throw new Error(`${key}: the partitioners disagree`);
  }
  const baseline = measure(Partitioners.DefaultPartitioner, keys, records);
  const measured = measure(KeyPartitioner, keys, records);
  process.stdout.write(
    [
      `partition choice — ${records} keyed records over ${PARTITIONS} partitions (the same partition for every key)`,
      `baseline (kafkajs DefaultPartitioner): ${baseline.ns_per_record} ns of CPU per record`,
      `ours (KeyPartitioner):                 ${measured.ns_per_record} ns of CPU per record`,
      '',
    ].join('\n'),
  );
  const ratio = Math.round((measured.records_per_cpu_s / baseline.records_per_cpu_s) * 1000) / 1000;
  process.stdout.write(`${JSON.stringify({ bench: 'partitioner', ours: measured, baseline, ratio })}\n`);
}

main();
