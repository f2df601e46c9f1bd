/**
 * Preloaded into the benches' service processes (NODE_OPTIONS `--import`, set by
 * bench/pipelines.ts) when BENCH_KAFKA_REQUESTS_DIR is set: counts the requests every kafkajs
 * client of the process sends, by API (Produce, Fetch, OffsetCommit, …), from kafkajs' own
 * instrumentation events, and keeps `<dir>/<pid>.json` up to date. The broker's CPU per message
 * follows the number of requests more than the number of records; this shows which ones.
 * It runs before tsx is registered, on Node's own type stripping: erasable syntax only.
 */
import { createRequire } from 'node:module';
import type { Kafka as KafkaClass } from 'kafkajs';
import { keepCountsFile } from './counts-file.ts';

const dir = process.env.BENCH_KAFKA_REQUESTS_DIR;
if (dir) {
  const { Kafka } = createRequire(import.meta.url)('kafkajs') as { Kafka: typeof KafkaClass };
  const counts: Record<string, number> = {};
  const tally = (event: { payload: { apiName: string } }) => {
    counts[event.payload.apiName] = (counts[event.payload.apiName] ?? 0) + 1;
  };
  const proto = Kafka.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const kind of ['consumer', 'producer']) {
    const create = proto[kind]!;
    proto[kind] = function (this: unknown, ...args: unknown[]) {
      const client = create.apply(this, args) as {
        on: (event: string, listener: typeof tally) => void;
        events: { REQUEST: string };
      };
      client.on(client.events.REQUEST, tally);
      return client;
    };
  }
  keepCountsFile(dir, counts);
}
