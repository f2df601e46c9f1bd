import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Bus, TopicSpec } from './bus/bus.ts';
import { KafkaBus } from './bus/kafka-bus.ts';
import { MemoryBus } from './bus/memory-bus.ts';
import type { Cache } from './cache/cache.ts';
import { MemoryCache } from './cache/memory-cache.ts';
import { RedisCache } from './cache/redis-cache.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { keyBytes, loadOrCreateKeyFile } from './keys.ts';
import { MysqlStore } from './store/mysql-store.ts';
import { SecretSealer } from './store/secret-sealer.ts';
import { SqliteStore } from './store/sqlite-store.ts';
import type { Store } from './store/store.ts';
import { ALL_TOPICS, Topics } from './topics.ts';

/** Kafka in distributed mode, the in-process log when KAFKA_BROKERS is unset. */
export function createBus(config: Config, logger: Logger): Bus {
  if (!config.kafka) return new MemoryBus({ logger });
  return new KafkaBus({
    brokers: config.kafka.brokers,
    clientId: config.kafka.clientId,
    replicationFactor: config.kafka.replicationFactor,
    minInsyncReplicas: config.kafka.minInsyncReplicas,
    logger: logger.child({ component: 'kafka' }),
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    heartbeatIntervalMs: config.kafka.heartbeatIntervalMs,
    rebalanceTimeoutMs: config.kafka.rebalanceTimeoutMs,
  });
}

/** MySQL/TiDB when MYSQL_URL is set, else a SQLite file in PIGEON_DATA_DIR. */
export function createStore(config: Config): Store {
  if (config.mysqlUrl) {
    return new MysqlStore(config.mysqlUrl, {
      connectionLimit: config.mysqlPoolSize,
      secrets: secretSealer(config, undefined),
    });
  }
  mkdirSync(config.dataDir, { recursive: true });
  return new SqliteStore(join(config.dataDir, 'pigeon.db'), {
    // Embedded mode keeps its key beside the database, as it does the API key: a copy of the
    // database alone (a backup, a bug report) still holds no usable credential.
    secrets: secretSealer(config, () => loadOrCreateKeyFile(config.dataDir, 'secrets-key')),
  });
}

/** The sealer for credential columns: PIGEON_SECRETS_KEY, else `fallback`'s key, else none. */
function secretSealer(config: Config, fallback: (() => Buffer) | undefined): SecretSealer {
  const size = { exactBytes: 32 };
  return new SecretSealer({
    current: config.secretsKey ? keyBytes(config.secretsKey, size) : fallback?.(),
    previous: config.secretsKeyPrevious ? [keyBytes(config.secretsKeyPrevious, size)] : [],
  });
}

/**
 * A Redis Cluster when REDIS_CLUSTER_NODES is set, one Redis when REDIS_URL is (every key under
 * PIGEON_REDIS_KEY_PREFIX either way), else an in-process map.
 */
export function createCache(config: Config): Cache {
  const target = config.redisCluster ?? config.redisUrl;
  if (target === undefined) return new MemoryCache();
  return new RedisCache(target, { keyPrefix: config.redisKeyPrefix, waitReplicas: config.redisWaitReplicas });
}

/**
 * The project's topics. Append time is the broker's (LogAppendTime), which lets the bridge refuse
 * a record written after the API already answered 503 for it. `provider.health` is compacted: only
 * the latest health per provider matters; so is `service.heartbeats`, which also expires.
 */
export function topicSpecs(partitions: number): TopicSpec[] {
  return ALL_TOPICS.map((name) => ({
    name,
    partitions,
    config: {
      'message.timestamp.type': 'LogAppendTime',
      ...(name === Topics.providerHealth ? { 'cleanup.policy': 'compact' } : {}),
      // The latest heartbeat per instance, and instances gone for a day are forgotten altogether.
      ...(name === Topics.heartbeats
        ? { 'cleanup.policy': 'compact,delete', 'retention.ms': '86400000' }
        : {}),
      // A process that starts later has nothing cached to drop: an hour covers any consumer's hiccup.
      ...(name === Topics.credentialChanges ? { 'retention.ms': '3600000' } : {}),
    },
  }));
}
