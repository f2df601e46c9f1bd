/**
 * Where the real infrastructure for integration tests lives. Tests never skip when a service is
 * missing: they fail, so a CI run without Kafka, MariaDB or Redis is red, not falsely green.
 */
import { randomBytes } from 'node:crypto';

export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_KAFKA_BROKERS = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

/** A short random suffix so concurrent or repeated runs never share topics, groups, keys or databases. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}
