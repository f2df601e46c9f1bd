/**
 * An api process reduced to what runs campaigns, for the crash tests: the real buildApi over
 * MariaDB, Redis and Kafka with its campaign runner on, and nothing listening. The parent SIGKILLs
 * it mid-campaign and starts another; the runner's lease and checkpoint are all that carry over.
 */
import { Registry } from 'prom-client';
import { buildApi } from '../../api/src/app.ts';
import { sendPolicySettings } from '../../api/src/send-policy/limits.ts';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { RedisCache } from '../../core/cache/redis-cache.ts';
import { loadConfig } from '../../core/config.ts';
import { Readiness } from '../../core/health.ts';
import { createLogger } from '../../core/logger.ts';
import { MysqlStore } from '../../core/store/mysql-store.ts';

const { BROKERS, MYSQL_URL, REDIS_URL, HOLDER, SETTINGS } = process.env;
if (!BROKERS || !MYSQL_URL || !REDIS_URL || !HOLDER) {
  throw new Error('BROKERS, MYSQL_URL, REDIS_URL and HOLDER are required');
}
const logger = createLogger({ level: process.env.PIGEON_TEST_LOG ?? 'silent' });
const store = new MysqlStore(MYSQL_URL, { connectionLimit: 4 });
const cache = new RedisCache(REDIS_URL);
const bus = new KafkaBus({ brokers: BROKERS.split(','), clientId: `runner-${HOLDER}`, logger });
const app = await buildApi({
  logger,
  bus,
  store,
  cache,
  registry: new Registry(),
  readiness: new Readiness(),
  providers: new Map(),
  publishTimeoutMs: 5_000,
  simulatorEnabled: false,
  sendPolicy: { settings: sendPolicySettings(loadConfig({})) },
  campaignRunner: { holder: HOLDER, settings: JSON.parse(SETTINGS ?? '{}') as Record<string, number> },
});
await app.ready();
process.stdout.write('ready\n');
