import { type Admin, Kafka, logLevel } from 'kafkajs';
import { DELAY_TOPICS, LANE_TOPICS, Topics } from '../../core/topics.ts';
import { sleep } from './wait.ts';

/** The consumer groups of a gateway started with KAFKA_GROUP_PREFIX `prefix` that read from the beginning. */
export function gatewayGroups(prefix: string): string[] {
  return [
    ...['high', 'normal', 'bulk', 'delay'].map((lane) => `${prefix}-bridge.${lane}`),
    `${prefix}-persister`,
    `${prefix}-api.inbound`,
  ];
}

/**
 * Commits every partition of the gateway's topics at its current end for these groups, as if
 * they had read everything already. The development broker is shared: other suites have left
 * millions of records in these topics, and a new group would otherwise work through all of them
 * before it reached this run's first message. `only`: these topics instead of the gateway's.
 */
export async function startGroupsAtEnd(
  brokers: readonly string[],
  groups: readonly string[],
  only?: readonly string[],
): Promise<void> {
  const kafka = new Kafka({ brokers: [...brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  let ends: { topic: string; partition: number; offset: string }[] = [];
  let topics: string[] = [];
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    topics = (
      only ?? [
        ...Object.values(LANE_TOPICS),
        Topics.outcomes,
        Topics.receipts,
        ...DELAY_TOPICS.map((t) => t.name),
      ]
    ).filter((t) => existing.has(t));
    for (const topic of topics) {
      const offsets = await fetchOffsetsOnceLed(admin, topic);
      ends = ends.concat(offsets.map((p) => ({ topic, partition: p.partition, offset: p.high })));
    }
  } finally {
    await admin.disconnect();
  }
  if (topics.length === 0) return;
  // One join per group, every topic at once, the groups side by side: admin.setOffsets joins the
  // group once per topic and waits for a fetch each time, which costs seconds a call.
  await Promise.all(groups.map((groupId) => commitAtEnd(kafka, groupId, topics, ends)));
}

/** A topic created a moment ago may not have its leaders known yet: asks again for a while. */
async function fetchOffsetsOnceLed(admin: Admin, topic: string) {
  for (let tries = 1; ; tries++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      if (!(err as { retriable?: boolean }).retriable || tries >= 40) throw err;
      await sleep(250);
    }
  }
}

/** Joins `groupId` alone, commits `ends` for it, and leaves. */
async function commitAtEnd(
  kafka: Kafka,
  groupId: string,
  topics: readonly string[],
  ends: { topic: string; partition: number; offset: string }[],
): Promise<void> {
  // A short long-poll: disconnect waits for the fetch in flight, 5 s at kafkajs's default.
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  try {
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.subscribe({ topics: [...topics], fromBeginning: false });
    await consumer.run({ autoCommit: false, eachBatch: async () => {} });
    await joined;
    await consumer.commitOffsets(ends);
  } finally {
    await consumer.disconnect();
  }
}
