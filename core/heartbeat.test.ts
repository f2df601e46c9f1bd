import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryBus } from './bus/memory-bus.ts';
import { decodeHeartbeat, type Heartbeat, HeartbeatEvents, startHeartbeat } from './heartbeat.ts';
import { createLogger } from './logger.ts';
import { topicSpecs } from './runtime.ts';
import { Topics } from './topics.ts';

test('heartbeats go out at once and every interval, with the service vital signs, and a last one on stop', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(topicSpecs(1));
  const beats: Heartbeat[] = [];
  const keys: string[] = [];
  const sub = await bus.subscribe({
    groupId: 'test',
    topics: [Topics.heartbeats],
    handler: async (batch) => {
      for (const r of batch.records) {
        keys.push(r.key);
        beats.push(decodeHeartbeat(r.value));
      }
    },
  });
  const hb = startHeartbeat({
    bus,
    service: 'supplier-bridge',
    instance: 'pod-1:7',
    intervalMs: 30,
    logger: createLogger({ level: 'silent' }),
    detail: () => ({ breakers: { 'twilio:*': 2 } }),
  });
  await sleep(100);
  await hb.stop();
  await sleep(20);
  await sub.close();
  await bus.close();
  assert.ok(beats.length >= 3, `${beats.length} heartbeats`);
  assert.ok(
    keys.every((k) => k === 'supplier-bridge/pod-1:7'),
    'keyed per instance for compaction',
  );
  assert.deepEqual(beats[0]!.breakers, { 'twilio:*': 2 });
  assert.equal(beats.at(-1)!.stopping, true);
  assert.ok(beats.slice(0, -1).every((b) => b.stopping === undefined));
});

test('a heartbeat the bus refuses is logged, never thrown', async () => {
  const bus = new MemoryBus();
  const warnings: string[] = [];
  const logger = createLogger({
    level: 'warn',
    destination: { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) },
  });
  const hb = startHeartbeat({ bus, service: 'api', logger, intervalMs: 10 });
  await sleep(50);
  await hb.stop();
  assert.deepEqual(warnings, [HeartbeatEvents.publishFailed], 'once per outage');
});

test('malformed heartbeats are refused', () => {
  assert.throws(() => decodeHeartbeat('{'), /not JSON/);
  assert.throws(() => decodeHeartbeat('{"type":"service.heartbeat"}'), /invalid heartbeat/);
});
