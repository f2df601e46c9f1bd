import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from './config.ts';
import { PigeonError } from './errors.ts';

test('an empty environment gives the embedded defaults', () => {
  const config = loadConfig({});
  assert.equal(config.port, 3000);
  assert.equal(config.kafka, undefined);
  assert.equal(config.mysqlUrl, undefined);
  assert.equal(config.redisUrl, undefined);
  assert.equal(config.dataDir, './data');
  assert.ok(Object.isFrozen(config));
});

test('distributed settings are parsed', () => {
  const config = loadConfig({
    KAFKA_BROKERS: '127.0.0.1:9092, kafka-2:9092',
    MYSQL_URL: 'mysql://root@127.0.0.1:3306/test',
    REDIS_URL: 'redis://127.0.0.1:6379',
    KAFKA_PARTITIONS: '12',
  });
  assert.deepEqual(config.kafka?.brokers, ['127.0.0.1:9092', 'kafka-2:9092']);
  assert.equal(config.kafka?.partitions, 12);
});

test('every bad variable is named in one error', () => {
  assert.throws(
    () =>
      loadConfig({ PORT: 'abc', MYSQL_URL: 'postgres://x', KAFKA_BROKERS: 'nohostport', LOG_LEVEL: 'loud' }),
    (err: unknown) => {
      assert.ok(err instanceof PigeonError);
      assert.equal(err.code, 'PIGEON_ERR_CONFIG');
      for (const name of ['PORT', 'MYSQL_URL', 'KAFKA_BROKERS', 'LOG_LEVEL'])
        assert.match(err.message, new RegExp(name));
      return true;
    },
  );
});

test('a short bootstrap API key is refused', () => {
  assert.throws(() => loadConfig({ PIGEON_API_KEY: 'short' }), /PIGEON_API_KEY/);
});
