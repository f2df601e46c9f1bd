/**
 * The only Kafka broker SIGKILLed under OTP load and restarted on its own data, with a supplier
 * bridge process routing to a Twilio fake. The broker is this test's own (test/kafka/kafka.sh on
 * free ports, its own directory), since the shared development broker must stay up.
 *
 * Asserted: while the broker is down the bridge's /readyz says not ready and names its consumers
 * that are not consuming; once the broker is back it is ready again, OTPs go out again, and every
 * OTP whose publish the broker acknowledged reaches the provider. Measured and printed, not
 * asserted: how long after the broker's port answered the first OTP published after that reached
 * the provider, when the publisher's first publish after that was acknowledged (the part of the
 * wait that is the broker's and the publisher's, not the bridge's), when /readyz turned ready, and
 * the load average.
 *
 * BROKER_RESTART_KAFKA_PORT puts the broker on that port and the next one (its controller), for a
 * machine where each test run has its own port range; otherwise the OS picks free ones.
 * BROKER_RESTART_LOG_DIR keeps the bridge's whole log (at info: kafkajs' crashes, restarts and
 * joins, the evictions) and the broker's, to see where a slow run spent its seconds.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';

import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { KafkaBus } from '../../core/bus/kafka-bus.ts';
import { newId } from '../../core/ids.ts';
import { buildMessageRequested } from '../../core/message-request.ts';
import { topicSpecs } from '../../core/runtime.ts';
import { LANE_TOPICS } from '../../core/topics.ts';
import { startTwilioFake } from '../fakes/twilio-fake.ts';
import { TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase } from '../support/mysql.ts';
import { freePort, portAnswers } from '../support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../support/processes.ts';
import { sleep, waitFor } from '../support/wait.ts';

const run = promisify(execFile);

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('with its broker killed the bridge is not ready; once the broker is back it is ready and sends again', async (t) => {
  const tag = `restart-${uniqueSuffix()}`;
  const home = mkdtempSync(join(tmpdir(), 'pigeon-broker-'));
  const fixedPort = Number(process.env.BROKER_RESTART_KAFKA_PORT ?? 0);
  const kafkaPort = fixedPort || (await freePort());
  const kafkaEnv = {
    ...process.env,
    PIGEON_KAFKA_HOME: home,
    PIGEON_KAFKA_LIBS: process.env.PIGEON_KAFKA_LIBS ?? join(process.cwd(), '.cache/kafka/libs'),
    KAFKA_PORT: String(kafkaPort),
    KAFKA_CONTROLLER_PORT: String(fixedPort ? fixedPort + 1 : await freePort()),
    KAFKA_HEAP_OPTS: '-Xmx384m -Xms96m',
    // A loaded CI machine has taken over a minute to start a broker's JVM.
    KAFKA_START_TIMEOUT: '110',
  };
  const kafka = (command: string) =>
    run('bash', ['test/kafka/kafka.sh', command], { env: kafkaEnv, timeout: 120_000 });
  const brokers = [`127.0.0.1:${kafkaPort}`];
  const fake = await startTwilioFake();
  const db = await createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-restart-'));
  let loading = true;
  const logDir = process.env.BROKER_RESTART_LOG_DIR;
  t.after(async () => {
    loading = false;
    await kafka('kill').catch(() => {});
    const brokerLog = join(home, 'logs/server.log');
    if (logDir && existsSync(brokerLog)) copyFileSync(brokerLog, join(logDir, `${tag}-broker.log`));
    await fake.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  await kafka('start');
  const bus = new KafkaBus({ brokers, clientId: 'restart-test', closeTimeoutMs: 2_000 });
  t.after(() => bus.close());
  await bus.ensureTopics(topicSpecs(6));

  const configFile = join(dir, 'providers.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      providers: [
        {
          name: 'tw',
          type: 'twilio',
          breaker: { volumeThreshold: 1_000_000, timeoutMs: 60_000 },
          options: {
            baseUrl: fake.url,
            accountSid: fake.accountSid,
            authToken: fake.authToken,
            from: '+15005550006',
          },
        },
      ],
    }),
  );
  const port = await freePort();
  const readyUrl = `http://127.0.0.1:${port}/readyz`;
  const bridge: ServiceProcess = startServiceProcess('supplier-bridge', {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_GROUP_PREFIX: tag,
    PIGEON_KAFKA_REPLICATION_FACTOR: '1',
    PIGEON_KAFKA_MIN_INSYNC_REPLICAS: '1',
    MYSQL_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    PIGEON_CONFIG: configFile,
    PIGEON_SIMULATOR: 'false',
    PIGEON_RECEIPT_TIMEOUT_OTP_MS: '0',
    PORT: String(port),
    ...(logDir ? { LOG_LEVEL: 'info', KAFKAJS_LOG_LEVEL: 'info' } : {}),
  });
  if (logDir) {
    const log = createWriteStream(join(logDir, `${tag}-bridge.log`));
    // Two sources into one file: neither may end it for the other.
    bridge.child.stdout?.pipe(log, { end: false });
    bridge.child.stderr?.pipe(log, { end: false });
  }
  t.after(() => bridge.kill());
  await waitForReady(readyUrl, bridge, 90_000);

  // When each OTP reached the provider, by body (polled: the fake records no time of its own).
  const arrivals = new Map<string, number>();
  let seen = 0;
  const poll = setInterval(() => {
    for (; seen < fake.accepted.length; seen++) arrivals.set(fake.accepted[seen]!.body, Date.now());
  }, 10);
  t.after(() => clearInterval(poll));

  /** OTPs whose publish the broker acknowledged, with when they were published and acknowledged. */
  const acknowledged: Array<{ body: string; at: number; ackedAt: number }> = [];
  const load = (async () => {
    for (let i = 0; loading; i++) {
      const now = Date.now();
      const message = buildMessageRequested(
        { to: `+1415${String(5_000_000 + i)}`, body: `otp ${i} ${tag}`, class: 'otp', ttlSeconds: 90 },
        { tenantId: `tenant-${tag}`, messageId: newId(now), now, publishTimeoutMs: 120_000 },
      );
      // Not awaited: a publish waits out its retries while the broker is down, the load must not.
      bus
        .publish(LANE_TOPICS.high, [{ key: message.to, value: JSON.stringify(message) }])
        .then(() => acknowledged.push({ body: message.body, at: now, ackedAt: Date.now() }))
        .catch(() => {});
      await sleep(100);
    }
  })();
  await waitFor(() => arrivals.size >= 10, 30_000, 'OTPs flowing before the kill');
  const loadBefore = loadavg()[0]!;

  await kafka('kill');
  // The bus check fails first (its ping); each consumer follows once its fetches go unanswered.
  const notConsuming = (body: Record<string, unknown>) =>
    (body.detail as { consumers: { notConsuming: Array<{ groupId: string }> } }).consumers.notConsuming;
  await waitFor(
    async () => {
      const down = await readyz(readyUrl);
      return (
        down.status === 503 &&
        (down.body.checks as Record<string, boolean>).consumers === false &&
        notConsuming(down.body).some((consumer) => consumer.groupId === `${tag}-bridge.high`)
      );
    },
    30_000,
    "the bridge not ready, naming its high lane's consumer, with its broker down",
  );

  // kafka.sh resume returns once the broker logged that it started; the port answers earlier.
  const resumed = spawn('bash', ['test/kafka/kafka.sh', 'resume'], {
    env: kafkaEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let resumeOutput = '';
  resumed.stderr.on('data', (chunk: Buffer) => (resumeOutput += chunk.toString()));
  const resumeExit = new Promise((resolve) => resumed.once('exit', resolve));
  await waitFor(() => portAnswers(kafkaPort), 120_000, 'the broker port answering again').catch(
    (err: Error) => {
      throw new Error(`${err.message}\n--- kafka.sh resume ---\n${resumeOutput}`, { cause: err });
    },
  );
  const backAt = Date.now();
  let readyAt = 0;
  await waitFor(
    async () => {
      if (!readyAt && (await readyz(readyUrl)).status === 200) readyAt = Date.now();
      return readyAt > 0 && acknowledged.some(({ at, body }) => at >= backAt && arrivals.has(body));
    },
    60_000,
    'ready and sending again after the broker came back',
  );
  await resumeExit;
  const afterBack = acknowledged.filter(({ at }) => at >= backAt);
  const firstAfter = afterBack
    .map(({ body }) => arrivals.get(body))
    .filter((at): at is number => at !== undefined)
    .sort((a, b) => a - b)[0];
  assert.ok(firstAfter !== undefined, 'an OTP published after the broker was back reached the provider');
  loading = false;
  await load;
  console.log(
    JSON.stringify({
      measure: 'broker-restart',
      portAnsweredAt: new Date(backAt).toISOString(),
      sendingResumedMs: firstAfter - backAt,
      firstAckMs: Math.min(...afterBack.map(({ ackedAt }) => ackedAt)) - backAt,
      readyAfterMs: readyAt - backAt,
      loadAverage: [loadBefore, loadavg()[0]!].map((load) => Number(load.toFixed(1))),
    }),
  );

  await waitFor(
    () => acknowledged.every(({ body }) => arrivals.has(body)),
    60_000,
    'every acknowledged OTP at the provider',
  );
});
