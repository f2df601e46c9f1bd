import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './config.ts';
import { PigeonError } from './errors.ts';

test('an empty environment gives the in-process defaults, in distributed mode unless a command says', () => {
  const config = loadConfig({});
  assert.equal(config.mode, 'distributed');
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

test('topics get three copies and min.insync.replicas 2 unless told otherwise', () => {
  const brokers = { KAFKA_BROKERS: '127.0.0.1:9092' };
  const production = loadConfig(brokers).kafka;
  assert.deepEqual([production?.replicationFactor, production?.minInsyncReplicas], [3, 2]);
  const single = loadConfig({ ...brokers, PIGEON_KAFKA_REPLICATION_FACTOR: '1' }).kafka;
  assert.deepEqual(
    [single?.replicationFactor, single?.minInsyncReplicas],
    [1, 1],
    'min ISR follows a smaller factor',
  );
  assert.throws(
    () =>
      loadConfig({ ...brokers, PIGEON_KAFKA_REPLICATION_FACTOR: '2', PIGEON_KAFKA_MIN_INSYNC_REPLICAS: '3' }),
    /PIGEON_KAFKA_MIN_INSYNC_REPLICAS: 3 is more than the replication factor 2/,
  );
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

test('consumer group timings default to a ten-second takeover and are checked against each other', () => {
  const defaults = loadConfig({ KAFKA_BROKERS: '127.0.0.1:9092' }).kafka!;
  assert.deepEqual(
    [defaults.sessionTimeoutMs, defaults.heartbeatIntervalMs, defaults.rebalanceTimeoutMs],
    [6_000, 1_000, 30_000],
  );
  const set = loadConfig({
    KAFKA_BROKERS: '127.0.0.1:9092',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    KAFKA_REBALANCE_TIMEOUT_MS: '15000',
  }).kafka!;
  assert.deepEqual(
    [set.sessionTimeoutMs, set.heartbeatIntervalMs, set.rebalanceTimeoutMs],
    [6_000, 1_000, 15_000],
  );
  assert.throws(
    () =>
      loadConfig({
        KAFKA_BROKERS: '127.0.0.1:9092',
        KAFKA_SESSION_TIMEOUT_MS: '2000',
        KAFKA_HEARTBEAT_INTERVAL_MS: '5000',
      }),
    (err: unknown) => {
      assert.ok(err instanceof PigeonError);
      assert.match(err.message, /KAFKA_SESSION_TIMEOUT_MS/);
      assert.match(err.message, /KAFKA_HEARTBEAT_INTERVAL_MS/);
      return true;
    },
  );
});

test('a short bootstrap API key is refused', () => {
  assert.throws(() => loadConfig({ PIGEON_API_KEY: 'short' }), /PIGEON_API_KEY/);
});

test('PIGEON_CONFIG credentials come from the environment through {"$env": NAME}', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'providers.json');
  writeFileSync(
    file,
    JSON.stringify({
      providers: [{ name: 'tw', type: 'twilio', options: { authToken: { $env: 'TW_TOKEN' }, sid: 'AC1' } }],
    }),
  );
  const config = loadConfig({ PIGEON_CONFIG: file, TW_TOKEN: 'secret-token' });
  assert.deepEqual(config.providersFile?.providers?.[0]?.options, { authToken: 'secret-token', sid: 'AC1' });
  assert.throws(
    () => loadConfig({ PIGEON_CONFIG: file }),
    (err: Error) =>
      /providers\[0\]\.options\.authToken: refers to environment variable TW_TOKEN/.test(err.message),
  );
});

test('a provider’s expectedDeliveredRate is a rate, or rates by country, checked at start', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'providers.json');
  const write = (expectedDeliveredRate: unknown) =>
    writeFileSync(
      file,
      JSON.stringify({ providers: [{ name: 'tw', type: 'twilio', expectedDeliveredRate }] }),
    );
  write({ IN: 0.7, '*': 0.95 });
  assert.deepEqual(loadConfig({ PIGEON_CONFIG: file }).providersFile?.providers?.[0]?.expectedDeliveredRate, {
    IN: 0.7,
    '*': 0.95,
  });
  for (const bad of [1.5, '0.9', { india: 0.7 }, { IN: -1 }]) {
    write(bad);
    assert.throws(
      () => loadConfig({ PIGEON_CONFIG: file }),
      /providers\[0\]\.expectedDeliveredRate: a rate from 0 to 1/,
      JSON.stringify(bad),
    );
  }
});

test('one-time codes: the default allowlist holds the core markets and limits parse as count/duration', () => {
  const { otp } = loadConfig({});
  for (const country of ['US', 'CA', 'GB', 'CN', 'DE', 'FR'])
    assert.ok(otp.allowedCountries.includes(country));
  assert.deepEqual(otp.sendsPerPhone, { limit: 10, windowMs: 3_600_000 });
  assert.equal(otp.key, undefined);
  const custom = loadConfig({
    PIGEON_OTP_ALLOWED_COUNTRIES: ' gb, us ,US',
    PIGEON_OTP_SENDS_PER_IP: '20/30s',
    PIGEON_OTP_KEY: 'a'.repeat(64),
    PIGEON_BODY_KEY: Buffer.alloc(32, 7).toString('base64'),
    PIGEON_OTP_DAILY_SPEND_CAP: '12.5',
  }).otp;
  assert.deepEqual(custom.allowedCountries, ['GB', 'US']);
  assert.deepEqual(custom.sendsPerIp, { limit: 20, windowMs: 30_000 });
  assert.equal(custom.dailySpendCap, 12.5);
  assert.equal(custom.key, 'a'.repeat(64));
});

test('one-time codes: bad keys, countries, limits and amounts are named', () => {
  assert.throws(
    () =>
      loadConfig({
        PIGEON_OTP_KEY: 'c2hvcnQ',
        PIGEON_BODY_KEY: Buffer.alloc(16).toString('base64'),
        PIGEON_OTP_ALLOWED_COUNTRIES: 'US,XX,Germany',
        PIGEON_OTP_SENDS_PER_PHONE: '10 per hour',
        PIGEON_OTP_DAILY_SPEND_CAP: '-1',
      }),
    (err: unknown) => {
      assert.ok(err instanceof PigeonError);
      for (const name of [
        'PIGEON_OTP_KEY',
        'PIGEON_BODY_KEY',
        'PIGEON_OTP_ALLOWED_COUNTRIES: .*XX, GERMANY',
        'PIGEON_OTP_SENDS_PER_PHONE',
        'PIGEON_OTP_DAILY_SPEND_CAP',
      ])
        assert.match(err.message, new RegExp(name));
      return true;
    },
  );
});

test('the monitor settings have defaults and are checked like the rest', () => {
  assert.deepEqual(loadConfig({}).monitor, {
    tickMs: 10_000,
    receiptGraceMs: 30_000,
    receiptBacklog: 50_000,
    bulkReceiptSample: 0.1,
    degradedRatio: 0.6,
    minSamples: 20,
    recoveryPerMinute: 0.1,
    alertsUrl: undefined,
    floors: {
      delivered: {
        default: { minSamples: 20, maxRate: 0.05 },
        transactional: { minSamples: 20, maxRate: 0.05 },
        alert: { minSamples: 10, maxRate: 0.05 },
        otp: { minSamples: 10, maxRate: 0.05 },
        marketing: { minSamples: 50, maxRate: 0.05 },
      },
      conversion: { minSamples: 20, maxRate: 0.02 },
    },
    baselineSnapshotMs: 30_000,
    priorsFromMessages: true,
  });
  const tuned = loadConfig({
    PIGEON_MONITOR_DEGRADED_PERCENT: '50',
    PIGEON_MONITOR_BULK_RECEIPT_SAMPLE_PERCENT: '25',
    PIGEON_ALERTS_URL: 'https://grafana.example.com/d/pigeon',
    PIGEON_MONITOR_FLOOR_MIN_OTP: '5',
    PIGEON_MONITOR_FLOOR_MIN_MARKETING: '0',
    PIGEON_MONITOR_FLOOR_PERCENT: '2',
    PIGEON_MONITOR_BASELINE_SNAPSHOT_SECONDS: '60',
  }).monitor;
  assert.deepEqual(
    [tuned.degradedRatio, tuned.bulkReceiptSample, tuned.alertsUrl],
    [0.5, 0.25, 'https://grafana.example.com/d/pigeon'],
  );
  assert.deepEqual(
    [tuned.floors.delivered.otp, tuned.floors.delivered.marketing, tuned.baselineSnapshotMs],
    [{ minSamples: 5, maxRate: 0.02 }, { minSamples: 0, maxRate: 0.02 }, 60_000],
  );
  // More often than every 30 s would write each series' row faster than the issue allows.
  assert.throws(
    () => loadConfig({ PIGEON_MONITOR_BASELINE_SNAPSHOT_SECONDS: '10' }),
    /PIGEON_MONITOR_BASELINE_SNAPSHOT_SECONDS/,
  );
  assert.throws(
    () => loadConfig({ PIGEON_MONITOR_DEGRADED_PERCENT: '100', PIGEON_ALERTS_URL: 'ftp://x' }),
    (err: PigeonError) =>
      /PIGEON_MONITOR_DEGRADED_PERCENT/.test(err.message) && /PIGEON_ALERTS_URL/.test(err.message),
  );
});

test('the secrets keys must be 32 bytes; either may be left unset', () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  assert.equal(loadConfig({ PIGEON_SECRETS_KEY: key }).secretsKey, key);
  assert.equal(loadConfig({}).secretsKey, undefined);
  assert.throws(
    () =>
      loadConfig({
        PIGEON_SECRETS_KEY: Buffer.alloc(16).toString('base64'),
        PIGEON_SECRETS_KEY_PREVIOUS: 'not a key!',
      }),
    (err: unknown) =>
      err instanceof PigeonError &&
      /PIGEON_SECRETS_KEY: expected exactly 32 bytes/.test(err.message) &&
      /PIGEON_SECRETS_KEY_PREVIOUS/.test(err.message),
  );
});

test('the simulator is on by default in embedded mode only', () => {
  assert.equal(loadConfig({}).simulator.enabled, false);
  assert.equal(loadConfig({}, { mode: 'distributed' }).simulator.enabled, false);
  const embedded = loadConfig({}, { mode: 'embedded' });
  assert.equal(embedded.simulator.enabled, true);
  assert.equal(embedded.simulator.receiptSecret, undefined, 'generated at start, never a default');
  assert.equal(loadConfig({ PIGEON_SIMULATOR: 'false' }, { mode: 'embedded' }).simulator.enabled, false);
});

test('the simulator turned on outside embedded mode needs a secret of its own', () => {
  const configError = (variable: string) => (err: unknown) =>
    err instanceof PigeonError && err.code === 'PIGEON_ERR_CONFIG' && err.message.includes(variable);
  assert.throws(() => loadConfig({ PIGEON_SIMULATOR: 'true' }), configError('PIGEON_SIMULATOR_SECRET'));
  const secret = 'a-secret-the-services-share';
  assert.deepEqual(loadConfig({ PIGEON_SIMULATOR: 'true', PIGEON_SIMULATOR_SECRET: secret }).simulator, {
    enabled: true,
    receiptSecret: secret,
  });
  for (const mode of ['embedded', 'distributed'] as const) {
    assert.throws(
      () =>
        loadConfig(
          { PIGEON_SIMULATOR: 'true', PIGEON_SIMULATOR_SECRET: 'pigeon-simulator-secret' },
          { mode },
        ),
      configError('published'),
      'the formerly documented default is public',
    );
    assert.throws(
      () => loadConfig({ PIGEON_SIMULATOR_SECRET: 'short' }, { mode }),
      configError('PIGEON_SIMULATOR_SECRET'),
    );
  }
});

test('the opt-out phrases of marketing templates default to the built-in list and take a comma list', () => {
  assert.deepEqual(loadConfig({}).templates.optOutPhrases, ['STOP', 'STOPALL', 'UNSUBSCRIBE', '退订']);
  assert.deepEqual(
    loadConfig({ PIGEON_TEMPLATE_OPT_OUT_PHRASES: ' Reply NO , 回复TD退订,, ' }).templates.optOutPhrases,
    ['Reply NO', '回复TD退订'],
  );
});

test('receipt deadlines default to 72 h for every class; one setting moves all, a class may differ', () => {
  const hours = (h: number) => h * 3_600_000;
  assert.deepEqual(loadConfig({}).persister.receiptDeadlineMs, {
    transactional: hours(72),
    marketing: hours(72),
    otp: hours(72),
    alert: hours(72),
  });
  const config = loadConfig({
    PIGEON_RECEIPT_DEADLINE_HOURS: '48',
    PIGEON_RECEIPT_DEADLINE_OTP_HOURS: '2',
    PIGEON_RECEIPT_DEADLINE_MARKETING_HOURS: '0',
  });
  assert.deepEqual(config.persister.receiptDeadlineMs, {
    transactional: hours(48),
    marketing: 0,
    otp: hours(2),
    alert: hours(48),
  });
  // Seconds win over every hour setting: a test deployment's receiptless messages end within its run.
  assert.deepEqual(
    loadConfig({ PIGEON_RECEIPT_DEADLINE_SECONDS: '30', PIGEON_RECEIPT_DEADLINE_OTP_HOURS: '2' }).persister
      .receiptDeadlineMs,
    { transactional: 30_000, marketing: 30_000, otp: 30_000, alert: 30_000 },
  );
  assert.throws(
    () => loadConfig({ PIGEON_RECEIPT_DEADLINE_ALERT_HOURS: '-1', PIGEON_RECEIPT_SWEEP_BATCH: '0' }),
    (err: unknown) =>
      err instanceof PigeonError &&
      err.message.includes('PIGEON_RECEIPT_DEADLINE_ALERT_HOURS') &&
      err.message.includes('PIGEON_RECEIPT_SWEEP_BATCH'),
  );
});

test('the Redis key prefix is empty unless set, and refuses braces and spaces', () => {
  assert.equal(loadConfig({}).redisKeyPrefix, '');
  assert.equal(loadConfig({ PIGEON_REDIS_KEY_PREFIX: 'pigeon-eu:' }).redisKeyPrefix, 'pigeon-eu:');
  for (const prefix of ['{pigeon}:', 'pigeon eu:', 'x'.repeat(65)]) {
    assert.throws(() => loadConfig({ PIGEON_REDIS_KEY_PREFIX: prefix }), /PIGEON_REDIS_KEY_PREFIX/);
  }
});

test('REDIS_CLUSTER_NODES takes host:port seeds or redis URLs carrying the shared credentials', () => {
  assert.deepEqual(
    loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-1.redis:6379,redis-2' }).redisCluster,
    {
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-1.redis', port: 6379 },
        { host: 'redis-2', port: 6379 },
      ],
      tls: false,
    },
  );
  assert.deepEqual(
    loadConfig({ REDIS_CLUSTER_NODES: 'rediss://pigeon:s%40cret@a:6380,rediss://pigeon:s%40cret@b:6380' })
      .redisCluster,
    {
      nodes: [
        { host: 'a', port: 6380 },
        { host: 'b', port: 6380 },
      ],
      username: 'pigeon',
      password: 's@cret',
      tls: true,
    },
  );
  assert.equal(loadConfig({}).redisCluster, undefined);
});

test('a bad cluster seed list, or one beside REDIS_URL, is refused at start', () => {
  for (const [nodes, message] of [
    [' , ', /expected host:port/],
    ['http://a:80', /neither host:port nor a redis:\/\/ URL/],
    ['a:notaport', /neither host:port nor a redis:\/\/ URL/],
    ['redis://a:1/2', /neither host:port/],
    ['redis://:x@a:1,redis://:y@b:1', /disagree on credentials/],
    ['rediss://a:1,redis://b:1', /disagree on credentials or TLS/],
  ] as const) {
    assert.throws(() => loadConfig({ REDIS_CLUSTER_NODES: nodes }), message, nodes);
  }
  assert.throws(
    () => loadConfig({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_URL: 'redis://b:6379' }),
    /set either it or REDIS_URL, not both/,
  );
});

test('the campaign runner runs by default with its documented settings, and each can be set', () => {
  assert.deepEqual(loadConfig({}).campaigns, {
    runner: true,
    chunkRows: 500,
    maxInFlight: 5_000,
    leaseTtlMs: 10_000,
  });
  assert.deepEqual(
    loadConfig({
      PIGEON_CAMPAIGN_RUNNER: 'false',
      PIGEON_CAMPAIGN_CHUNK_ROWS: '2000',
      PIGEON_CAMPAIGN_MAX_IN_FLIGHT: '20000',
      PIGEON_CAMPAIGN_LEASE_SECONDS: '30',
    }).campaigns,
    { runner: false, chunkRows: 2_000, maxInFlight: 20_000, leaseTtlMs: 30_000 },
  );
  assert.throws(
    () => loadConfig({ PIGEON_CAMPAIGN_CHUNK_ROWS: '0', PIGEON_CAMPAIGN_LEASE_SECONDS: '1' }),
    (err: unknown) =>
      err instanceof PigeonError &&
      err.message.includes('PIGEON_CAMPAIGN_CHUNK_ROWS') &&
      err.message.includes('PIGEON_CAMPAIGN_LEASE_SECONDS'),
  );
});

test('a bridge consumes every lane and the delay topics unless PIGEON_BRIDGE_LANES names some', () => {
  assert.deepEqual(loadConfig({}).bridge.lanes, ['high', 'normal', 'bulk', 'delay']);
  assert.deepEqual(loadConfig({ PIGEON_BRIDGE_LANES: 'high' }).bridge.lanes, ['high']);
  assert.deepEqual(loadConfig({ PIGEON_BRIDGE_LANES: 'normal, bulk,delay' }).bridge.lanes, [
    'normal',
    'bulk',
    'delay',
  ]);
  for (const bad of ['otp', 'high,high', 'high,']) {
    assert.throws(
      () => loadConfig({ PIGEON_BRIDGE_LANES: bad }),
      (err: unknown) => err instanceof PigeonError && err.message.includes('PIGEON_BRIDGE_LANES'),
      bad,
    );
  }
});
