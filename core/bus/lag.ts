/**
 * Consumer lag of the services' consumer groups: records each group has still to read, per topic.
 * Kafka answers from the group's committed offsets and the partitions' high watermarks; the
 * in-process bus from its own log. Only groups that belong to a service are read — `<prefix>-name`
 * or `<prefix>-name.lane` — never the per-process groups with a random part (health feeds, monitor
 * instances), whose number grows with every restart.
 */
import { type Admin, Kafka, logLevel } from 'kafkajs';
import type { MemoryBus } from './memory-bus.ts';

export interface GroupLag {
  group: string;
  topic: string;
  lag: number;
}

export interface LagReader {
  read(): Promise<GroupLag[]>;
  close(): Promise<void>;
}

/** Whether a consumer group is a service's own (`pigeon-bridge.high`), not one process's. */
export function isServiceGroup(group: string, prefix: string): boolean {
  if (!group.startsWith(`${prefix}-`)) return false;
  return /^[a-z][a-z-]*(\.[a-z][a-z-]*)?$/.test(group.slice(prefix.length + 1));
}

export class KafkaLagReader implements LagReader {
  readonly #kafka: Kafka;
  readonly #prefix: string;
  #admin: Promise<Admin> | undefined;

  constructor(options: { brokers: readonly string[]; clientId?: string; groupPrefix: string }) {
    this.#kafka = new Kafka({
      brokers: [...options.brokers],
      clientId: `${options.clientId ?? 'pigeon'}-lag`,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3000,
      requestTimeout: 10_000,
      retry: { retries: 1 },
    });
    this.#prefix = options.groupPrefix;
  }

  async read(): Promise<GroupLag[]> {
    const admin = await this.#connected();
    try {
      const { groups } = await admin.listGroups();
      const ours = groups.map((g) => g.groupId).filter((g) => isServiceGroup(g, this.#prefix));
      const highs = new Map<string, Promise<Map<number, { high: number; low: number }>>>();
      const watermarks = (topic: string) => {
        let found = highs.get(topic);
        if (!found) {
          found = admin
            .fetchTopicOffsets(topic)
            .then(
              (parts) =>
                new Map(parts.map((p) => [p.partition, { high: Number(p.high), low: Number(p.low) }])),
            );
          highs.set(topic, found);
        }
        return found;
      };
      const result: GroupLag[] = [];
      for (const group of ours.sort()) {
        for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group })) {
          const marks = await watermarks(topic);
          let lag = 0;
          for (const { partition, offset } of partitions) {
            const committed = Number(offset);
            const mark = marks.get(partition);
            // No commit on a partition yet: the group has not read it, so it cannot lag behind on it.
            if (!mark || committed < 0) continue;
            lag += Math.max(0, mark.high - Math.max(committed, mark.low));
          }
          result.push({ group, topic, lag });
        }
      }
      return result;
    } catch (err) {
      // A broken admin connection is dropped so the next read starts afresh.
      const admin = this.#admin;
      this.#admin = undefined;
      void admin?.then((a) => a.disconnect()).catch(() => {});
      throw err;
    }
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.then((a) => a.disconnect()).catch(() => {});
  }

  #connected(): Promise<Admin> {
    if (!this.#admin) {
      const admin = this.#kafka.admin();
      this.#admin = admin.connect().then(() => admin);
      this.#admin.catch(() => {
        this.#admin = undefined;
      });
    }
    return this.#admin;
  }
}

/** The in-process bus reads its own log; embedded mode's groups are the services' anyway. */
export class MemoryLagReader implements LagReader {
  constructor(
    private readonly bus: MemoryBus,
    private readonly prefix: string,
  ) {}

  async read(): Promise<GroupLag[]> {
    return this.bus.consumerLag().filter((g) => isServiceGroup(g.group, this.prefix));
  }

  async close(): Promise<void> {}
}
