/**
 * The Kafka bus's per-partition workers and batched commits on a real broker: a backlog drains
 * with every record handled once; a provider hanging on some sends holds back only the partitions
 * it hangs on, OTPs on the others keep going; and a consumer killed mid-way loses nothing, since
 * no commit passed a record that was not handled.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { ConsumedRecord } from '../../core/bus/bus.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { TEST_KAFKA_BROKERS, uniqueSuffix } from '../support/infra.ts';
import { sleep, waitFor } from '../support/wait.ts';

const PARTITIONS = 6;

async function committedLag(groupId: string, topic: string): Promise<number> {
  const admin = new Kafka({ brokers: TEST_KAFKA_BROKERS, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    let lag = 0;
    for (const end of ends) {
      const at = committed!.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
      lag += Number(end.high) - Math.max(0, Number(at));
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

test('a backlog drains with every record handled exactly once and every offset committed', async (t) => {
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'bus-partitions' });
  t.after(() => bus.close());
  const topic = `partitions.backlog.${uniqueSuffix()}`;
  const groupId = `backlog-${uniqueSuffix()}`;
  await bus.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
  const total = 20_000;
  for (let i = 0; i < total; i += 2_000) {
    await bus.publish(
      topic,
      Array.from({ length: 2_000 }, (_, j) => ({ key: `k${(i + j) % 500}`, value: String(i + j) })),
    );
  }
  const seen = new Map<string, number>();
  const subscription = await bus.subscribe({
    groupId,
    topics: [topic],
    handler: async (batch) => {
      // Partitions take turns unevenly, as they do behind providers of different speeds.
      if (batch.partition % 2 === 0) await sleep(5);
      for (const record of batch.records) seen.set(record.value, (seen.get(record.value) ?? 0) + 1);
    },
  });
  await waitFor(() => seen.size === total, 60_000, 'the backlog drained');
  await subscription.close();
  assert.equal([...seen.values()].filter((count) => count !== 1).length, 0, 'no record handled twice');
  assert.equal(await committedLag(groupId, topic), 0, 'every handled offset was committed');
});

test('a provider hanging on a fifth of the sends holds back only its partitions: OTPs elsewhere go on', async (t) => {
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'bus-partitions' });
  t.after(() => bus.close());
  const topic = `partitions.hang.${uniqueSuffix()}`;
  await bus.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
  let release!: () => void;
  const timeoutReached = new Promise<void>((resolve) => (release = resolve));
  const hanging = new Set<number>();
  const handled: ConsumedRecord[] = [];
  const subscription = await bus.subscribe({
    groupId: `hang-${uniqueSuffix()}`,
    topics: [topic],
    fetch: 'immediate',
    handler: async (batch) => {
      await Promise.all(
        batch.records.map(async (record) => {
          // Every fifth send goes to a provider that answers only at its send timeout.
          if (Number(record.value.split('-')[1]) % 5 === 0) {
            hanging.add(record.partition);
            await timeoutReached;
          }
        }),
      );
      handled.push(...batch.records);
    },
  });
  t.after(() => subscription.close());

  // The first round: one OTP per recipient, a fifth of them to the hanging provider.
  const recipients = Array.from({ length: 30 }, (_, i) => `+1415555${String(1000 + i)}`);
  await bus.publish(
    topic,
    recipients.map((to, i) => ({ key: to, value: `otp-${i}` })),
  );
  await waitFor(() => hanging.size > 0, 30_000, 'sends hanging');
  await waitFor(
    () => handled.length > 0 && new Set(handled.map((r) => r.partition)).size + hanging.size >= PARTITIONS,
    30_000,
    'the partitions without a hanging send handled their OTPs',
  );
  const healthy = Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => !hanging.has(p));
  assert.ok(healthy.length > 0, 'some partitions have no hanging send');

  // A second round, sent while the hang lasts: every OTP on a partition without a hanging send
  // is handled before the provider's timeout ends the hang.
  const second = recipients.map((to, i) => ({ key: to, value: `otp-${i + 1}001` }));
  await bus.publish(topic, second);
  const arrivedOn = new Map<string, number>();
  await waitFor(
    () => {
      for (const record of handled) arrivedOn.set(record.value, record.partition);
      const onHealthy = handled.filter((r) => r.value.endsWith('001') && healthy.includes(r.partition));
      return onHealthy.length > 0 && onHealthy.length === countOn(healthy);
    },
    30_000,
    'second-round OTPs on healthy partitions handled during the hang',
  );
  function countOn(partitions: number[]): number {
    // Records of one key stay on one partition: a second-round OTP lands where its recipient's first did.
    return handled.filter((r) => !r.value.endsWith('001') && partitions.includes(r.partition)).length;
  }
  assert.ok(
    handled.every((r) => !hanging.has(r.partition)),
    'nothing on a partition with a hanging send was handled before the hang ended',
  );
  release();
  await waitFor(() => handled.length === recipients.length * 2, 30_000, 'everything handled after the hang');
});

test('batches of a partition handled at once: a later one goes on while an earlier one hangs, and the commit waits for it', async (t) => {
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'bus-partitions', commitIntervalMs: 50 });
  t.after(() => bus.close());
  const topic = `partitions.overlap.${uniqueSuffix()}`;
  const groupId = `overlap-${uniqueSuffix()}`;
  await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => (answer = resolve));
  const handled: string[] = [];
  const subscription = await bus.subscribe({
    groupId,
    topics: [topic],
    fetch: 'immediate',
    batchesAtOnce: 2,
    handler: async (batch) => {
      for (const record of batch.records) {
        if (record.value === 'hangs') await answered;
        handled.push(record.value);
      }
    },
  });
  t.after(async () => {
    answer();
    await subscription.close();
  });
  await bus.publish(topic, [{ key: 'a', value: 'hangs' }]);
  await sleep(500);
  await bus.publish(topic, [{ key: 'b', value: 'goes' }]);
  await waitFor(() => handled.includes('goes'), 10_000, 'the later batch handled');
  await sleep(300);
  assert.deepEqual(handled, ['goes'], 'while the first still hangs');
  assert.equal(await committedLag(groupId, topic), 2, 'and nothing is committed past it');
  answer();
  await waitFor(async () => (await committedLag(groupId, topic)) === 0, 10_000, 'both committed');
});

test('a consumer killed mid-way and started again loses no record: no commit passed an unhandled one', async (t) => {
  const bus = new KafkaBus({ brokers: TEST_KAFKA_BROKERS, clientId: 'bus-partitions' });
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-bus-crash-'));
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const topic = `partitions.crash.${uniqueSuffix()}`;
  const groupId = `crash-${uniqueSuffix()}`;
  const out = join(dir, 'handled.txt');
  await bus.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
  const total = 6_000;
  const publishHalf = (from: number) =>
    bus.publish(
      topic,
      Array.from({ length: total / 2 }, (_, i) => ({ key: `k${(from + i) % 300}`, value: String(from + i) })),
    );
  await publishHalf(0);
  const handledLines = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : []);
  const start = () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/bus-consumer-process.ts'], {
      // Three batches of a partition at once, finishing out of order: commits still go in order.
      env: {
        ...process.env,
        BROKERS: TEST_KAFKA_BROKERS.join(','),
        GROUP: groupId,
        TOPIC: topic,
        OUT: out,
        BATCHES: '3',
      },
      stdio: 'ignore',
    });
    children.push(child);
    return child;
  };

  const first = start();
  // The first half drains (and commits) before the second half comes; the kill falls inside it.
  await waitFor(() => handledLines().length >= total / 2, 60_000, 'the first half handled');
  await publishHalf(total / 2);
  await waitFor(() => handledLines().length >= (total * 3) / 4, 60_000, 'three quarters handled');
  first.kill('SIGKILL');
  const handledBeforeKill = new Set(handledLines()).size;
  assert.ok(handledBeforeKill < total, 'killed before the end');

  start();
  await waitFor(
    () => new Set(handledLines()).size === total,
    120_000,
    'every record handled after the restart',
  );
  const lines = handledLines();
  t.diagnostic(
    `${handledBeforeKill} handled before the kill; ${lines.length - total} handled again after the restart`,
  );
  assert.equal(new Set(lines).size, total, 'no record lost');
  // Only what the killed member handled after its last commit comes back: not the first half,
  // whose offsets it had committed.
  const again = lines.length - total;
  assert.ok(again <= handledBeforeKill - total / 2, 'committed records did not come back');
});
