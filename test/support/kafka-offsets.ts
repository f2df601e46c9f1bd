import { Kafka, logLevel } from 'kafkajs';
import { DELAY_TOPICS, LANE_TOPICS, Topics } from '../../core/topics.ts';

/** The consumer groups of a gateway started with KAFKA_GROUP_PREFIX `prefix` that read from the beginning. */
export function gatewayGroups(prefix: string): string[] {
  return [
    ...['high', 'normal', 'bulk', 'delay'].map((lane) => `${prefix}-bridge.${lane}`),
    `${prefix}-persister`,
    `${prefix}-persister-callbacks`,
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
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const topics = (
      only ?? [
        ...Object.values(LANE_TOPICS),
        Topics.outcomes,
        Topics.receipts,
        ...DELAY_TOPICS.map((t) => t.name),
      ]
    ).filter((t) => existing.has(t));
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const partitions = ends.map((p) => ({ partition: p.partition, offset: p.high }));
      for (const groupId of groups) await admin.setOffsets({ groupId, topic, partitions });
    }
  } finally {
    await admin.disconnect();
  }
}
