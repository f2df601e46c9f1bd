/**
 * Where the seconds go when the only Kafka broker is killed and restarted on its data: one
 * KafkaBus (the product's) publishing to and consuming from the OTP lane, its own broker
 * (test/kafka/kafka.sh on KAFKA_PORT / KAFKA_CONTROLLER_PORT, default 31000 / 31001), kafkajs at
 * debug level. Prints a timeline relative to the moment the restarted broker's port answered:
 * kafkajs' connects, crashes and restarts, group requests (JoinGroup, SyncGroup, LeaveGroup),
 * the first fetch, and the first record published after that consumed; then the broker's own
 * group coordinator lines for the same period.
 *
 *   node --import tsx bench/broker-restart-timeline.ts [runs]
 *
 * TIMELINE_BROKER_LOG=all prints the broker's whole log around the restart, not only its group lines.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { portAnswers } from '../test/support/ports.ts';

process.env.KAFKAJS_LOG_LEVEL ??= 'debug';
const { KafkaBus } = await import('../core/bus/kafka-bus.ts');
const { LANE_TOPICS } = await import('../core/topics.ts');
const { topicSpecs } = await import('../core/runtime.ts');

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** kafkajs log lines worth a place on the timeline. */
const INTERESTING =
  /Crash|Restarting|Starting|Connecting|Joined group|Consumer has joined|Group join|JoinGroup|SyncGroup|LeaveGroup|member|Rebalanc|rebalanc|No broker|coordinator|Failed to connect|Connection error/i;

async function once(round: number): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'pigeon-timeline-'));
  const kafkaPort = Number(process.env.KAFKA_PORT ?? 31000);
  const env = {
    ...process.env,
    PIGEON_KAFKA_HOME: home,
    PIGEON_KAFKA_LIBS: process.env.PIGEON_KAFKA_LIBS ?? join(process.cwd(), '.cache/kafka/libs'),
    KAFKA_PORT: String(kafkaPort),
    KAFKA_CONTROLLER_PORT: process.env.KAFKA_CONTROLLER_PORT ?? '31001',
    KAFKA_HEAP_OPTS: '-Xmx384m -Xms96m',
  };
  const kafka = (command: string) => run('bash', ['test/kafka/kafka.sh', command], { env, timeout: 120_000 });
  const events: Array<{ at: number; what: string }> = [];
  const note = (what: string) => events.push({ at: Date.now(), what });
  const logger = {
    error: (obj: object, msg?: string) => log('error', obj, msg),
    warn: (obj: object, msg?: string) => log('warn', obj, msg),
    info: (obj: object, msg?: string) => log('info', obj, msg),
    debug: (obj: object, msg?: string) => log('debug', obj, msg),
  };
  function log(level: string, obj: object, msg = ''): void {
    const fields = obj as Record<string, unknown>;
    const api = typeof fields.apiName === 'string' ? fields.apiName : '';
    if (
      INTERESTING.test(msg) ||
      /Group|Coordinator|Heartbeat/.test(api) ||
      (api === 'Fetch' && msg.startsWith('Response'))
    ) {
      const err = fields.err instanceof Error ? ` ${fields.err.message}` : '';
      const error = typeof fields.error === 'string' ? ` ${fields.error}` : '';
      note(
        `${level} [${typeof fields.kafkaNamespace === 'string' ? fields.kafkaNamespace : ''}] ${msg} ${api}${err}${error}`.slice(
          0,
          200,
        ),
      );
    }
  }

  try {
    await kafka('start');
    const brokers = [`127.0.0.1:${kafkaPort}`];
    const bus = new KafkaBus({ brokers, clientId: 'timeline', logger, closeTimeoutMs: 2_000 });
    await bus.ensureTopics(topicSpecs(6));
    const consumedAt = new Map<string, number>();
    const subscription = await bus.subscribe({
      groupId: `timeline-${round}`,
      topics: [LANE_TOPICS.high],
      fetch: 'immediate',
      handler: async ({ records }) => {
        for (const record of records) consumedAt.set(record.value, Date.now());
      },
    });
    const published: Array<{ value: string; at: number; ackedAt?: number }> = [];
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading; i++) {
        const entry: { value: string; at: number; ackedAt?: number } = { value: `m${i}`, at: Date.now() };
        published.push(entry);
        bus
          .publish(LANE_TOPICS.high, [{ key: String(i % 17), value: entry.value }])
          .then(() => (entry.ackedAt = Date.now()))
          .catch(() => {});
        await sleep(100);
      }
    })();
    while (consumedAt.size < 10) await sleep(100);
    events.length = 0;
    await kafka('kill');
    const killedAt = Date.now();
    while (subscription.consuming()) await sleep(100);
    note(`subscription not consuming (${subscription.state()})`);
    // As the test does: the broker stays down until readiness said so, at least 5 s.
    await sleep(Math.max(0, killedAt + 5_000 - Date.now()));
    const resumed = spawn('bash', ['test/kafka/kafka.sh', 'resume'], { env, stdio: 'ignore' });
    const resumeExit = new Promise((resolve) => resumed.once('exit', resolve));
    while (!(await portAnswers(kafkaPort))) await sleep(20);
    const backAt = Date.now();
    note('PORT ANSWERS');
    let consumingAt = 0;
    for (;;) {
      if (!consumingAt && subscription.consuming()) {
        consumingAt = Date.now();
        note('subscription consuming');
      }
      const first = published.find((p) => p.at >= backAt && consumedAt.has(p.value));
      if (first && consumingAt) break;
      await sleep(20);
    }
    await resumeExit;
    loading = false;
    await load;
    const afterBack = published.filter((p) => p.at >= backAt);
    const firstConsumed = Math.min(...afterBack.map((p) => consumedAt.get(p.value) ?? Infinity));
    const firstAcked = Math.min(...afterBack.map((p) => p.ackedAt ?? Infinity));
    note('first record published after the port answered consumed');
    for (const { at, what } of events.sort((a, b) => a.at - b.at)) {
      console.log(`${String(at - backAt).padStart(7)} ms  ${what}`);
    }
    const detail = process.env.TIMELINE_BROKER_LOG === 'all';
    const serverLog = readFileSync(join(home, 'logs/server.log'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('['))
      .filter((line) => detail || /GroupCoordinator|Kafka Server started|member/i.test(line))
      .filter((line) => !/TransactionCoordinator|ShareCoordinator/.test(line));
    console.log(`--- broker log (group lines; port answered at ${new Date(backAt).toISOString()})`);
    for (const line of serverLog.slice(detail ? -400 : -40)) console.log(line.slice(0, 260));
    console.log(
      JSON.stringify({
        measure: 'broker-restart-timeline',
        firstAckMs: firstAcked - backAt,
        consumingMs: consumingAt - backAt,
        firstConsumedMs: firstConsumed - backAt,
      }),
    );
    await bus.close();
  } finally {
    await kafka('kill').catch(() => {});
    rmSync(home, { recursive: true, force: true });
  }
}

const runs = Number(process.argv[2] ?? 1);
for (let round = 0; round < runs; round++) await once(round);
