/**
 * The two delivery pipelines the end-to-end, scale and soak benches drive, each as separate
 * processes calling the same fake provider process: Pigeon's four services (the `http` provider
 * pointed at the fake) and the bare pipeline (`bench/bare-pipeline.ts`). Also the load generator
 * they share and the exactly-once checks of each.
 */
import { KeptAliveConnection } from './http-client.ts';
import { KafkaRequestMeter, kafkaRequestCountingEnv } from './kafka-request-meter.ts';
import {
  type SqlStatementFigures,
  SqlStatementMeter,
  sqlStatementCountingEnv,
} from './sql-statement-meter.ts';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import { fixKafkajsIdleLoop } from '../core/bus/kafkajs-idle-loop.ts';
import { ALL_TOPICS } from '../core/topics.ts';
import { TEST_KAFKA_BROKERS, TEST_MYSQL_URL, TEST_REDIS_URL, uniqueSuffix } from '../test/support/infra.ts';
import { CpuMeter, type CpuRow, infrastructurePids, withoutChildren } from './cpu.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/mysql.ts';
import { freePort } from '../test/support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../test/support/processes.ts';
import { sleep } from '../test/support/wait.ts';
import {
  BARE_TABLE_SQL,
  BENCH_SEND_POLICY,
  benchChildNodeOptions,
  FAKE_SIGNATURE_HEADER,
} from './support.ts';

// The bench's own admin clients: unpatched kafkajs arms a timer of minus the epoch when idle
// (TimeoutNegativeWarning), which the services' bus does not.
fixKafkajsIdleLoop();

/** Environment that counts a child's Kafka requests and MariaDB statements; merges NODE_OPTIONS. */
function countingEnv(nodeOptions?: string): Record<string, string> {
  const kafka = kafkaRequestCountingEnv(nodeOptions);
  return { ...kafka, ...sqlStatementCountingEnv(kafka.NODE_OPTIONS!) };
}

export const log = (line: string) => process.stderr.write(`${line}\n`);
export const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

export const recipient = (i: number) => `+1415555${String(1000 + (i % 9000))}`;
export const body = (i: number) => `bench message ${i}`;

/** A child process of a bench, with its output kept for when it fails. */
export interface BenchChild {
  name: string;
  pid: number | undefined;
  output(): string;
  stop(): Promise<number | null>;
  /** A Pigeon service's ops address (`/metrics`, `/readyz`). */
  opsUrl?: string;
}

function fromService(service: ServiceProcess, name: string, opsUrl: string): BenchChild {
  return { name, pid: service.child.pid, output: () => service.output(), stop: () => service.stop(), opsUrl };
}

/** Spawns `node --import tsx <script> <args>` and resolves with its first stdout line matching `ready`. */
async function spawnScript(
  name: string,
  args: string[],
  env: Record<string, string>,
  readyLine: RegExp,
): Promise<{ child: BenchChild; match: RegExpExecArray }> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...countingEnv(), ...env };
  childEnv.NODE_OPTIONS = benchChildNodeOptions(childEnv.NODE_OPTIONS);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ...args], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready after 60 s:\n${out}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-20_000);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-20_000);
      const found = readyLine.exec(out);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${out}`));
    });
  });
  return {
    match,
    child: {
      name,
      pid: child.pid,
      output: () => out,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      },
    },
  };
}

export interface FakeProvider extends BenchChild {
  url: string;
  secret: string;
  stats(): Promise<{
    sends: number;
    receipts: number;
    receiptRefusals: number;
    receiptFailures: number;
    /** Connections the provider accepted: callers that keep theirs alive open few. */
    connections: number;
  }>;
}

export async function startFakeProvider(receiptDelayMs: number, receipts = true): Promise<FakeProvider> {
  const secret = randomBytes(24).toString('hex');
  const { child, match } = await spawnScript(
    'fake provider',
    ['bench/fake-provider.ts'],
    {
      PORT: '0',
      FAKE_PROVIDER_SECRET: secret,
      BENCH_RECEIPT_DELAY_MS: String(receiptDelayMs),
      FAKE_PROVIDER_RECEIPTS: receipts ? 'on' : 'off',
    },
    /listening (\d+)/,
  );
  const url = `http://127.0.0.1:${match[1]}`;
  return {
    ...child,
    url,
    secret,
    stats: async () =>
      (await (await fetch(`${url}/stats`)).json()) as Awaited<ReturnType<FakeProvider['stats']>>,
  };
}

/** What a delivery pipeline under test offers the benches. */
export interface Pipeline {
  label: string;
  /** Where the load generator posts `POST /v1/messages`. */
  acceptUrl: string;
  apiKey: string | undefined;
  /** Its own processes, by the name they have in the CPU table. */
  processes: BenchChild[];
  /** How many messages of this pipeline are stored with a final (delivered) status so far. */
  delivered(): Promise<number>;
  /** Exactly-once over the accepted ids: each stored once, with a final status, nothing doubled. */
  verify(ids: readonly string[]): Promise<{ exactlyOnce: boolean; detail: Record<string, unknown> }>;
  stop(): Promise<{ failed: boolean }>;
  /** Pigeon's: its database and the tenant of its API key, for benches that write to the store. */
  mysqlUrl?: string;
  tenant?: string;
}

async function stopAll(children: BenchChild[]): Promise<boolean> {
  let failed = false;
  for (const child of children) {
    const code = await child.stop();
    if (code !== 0) {
      failed = true;
      log(`--- ${child.name} exited with ${code}; output:\n${child.output().slice(-4000)}`);
    }
  }
  return failed;
}

const count = async (conn: mysql.Connection, sql: string, params: unknown[] = []): Promise<number> => {
  const [rows] = await conn.query(sql, params);
  return Number((rows as Array<{ n: number }>)[0]!.n);
};

export interface BareOptions {
  provider: FakeProvider;
  partitions: number;
  concurrency: number;
}

/** The bare pipeline on fresh topics and a fresh database: accept, bridge and persister processes. */
export async function startBarePipeline(options: BareOptions): Promise<Pipeline> {
  const suffix = uniqueSuffix();
  const requestsTopic = `bench.bare.requests.${suffix}`;
  const receiptsTopic = `bench.bare.receipts.${suffix}`;
  const kafka = new Kafka({
    brokers: TEST_KAFKA_BROKERS,
    clientId: 'bench-bare',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [requestsTopic, receiptsTopic].map((topic) => ({ topic, numPartitions: options.partitions })),
  });
  const db: TestDatabase = await createTestDatabase();
  const conn = await mysql.createConnection({ uri: db.url });
  await conn.query(BARE_TABLE_SQL);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const env = {
    BARE_KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
    BARE_REQUESTS_TOPIC: requestsTopic,
    BARE_RECEIPTS_TOPIC: receiptsTopic,
    BARE_GROUP_SUFFIX: suffix,
    BARE_PUBLIC_URL: publicUrl,
    BARE_PROVIDER_URL: options.provider.url,
    BARE_MYSQL_URL: db.url,
    BENCH_BRIDGE_CONCURRENCY: String(options.concurrency),
    KAFKA_PARTITIONS: String(options.partitions),
  };
  const children: BenchChild[] = [];
  const start = async (role: string, extra: Record<string, string> = {}) => {
    const { child } = await spawnScript(
      `bare ${role}`,
      ['bench/bare-pipeline.ts', role],
      { ...env, ...extra },
      /ready/,
    );
    children.push(child);
  };
  try {
    await start('persister');
    await start('bridge');
    await start('accept', { PORT: String(port) });
  } catch (err) {
    await stopAll(children);
    throw err;
  }
  return {
    label: 'bare pipeline',
    acceptUrl: publicUrl,
    apiKey: undefined,
    processes: children,
    delivered: () => count(conn, `SELECT COUNT(*) n FROM bare_messages WHERE status = 'delivered'`),
    verify: async (ids) => {
      const detail = {
        rows: await count(conn, 'SELECT COUNT(*) n FROM bare_messages WHERE id IN (?)', [ids]),
        delivered: await count(
          conn,
          `SELECT COUNT(*) n FROM bare_messages WHERE id IN (?) AND status = 'delivered'`,
          [ids],
        ),
        doubled: await count(
          conn,
          'SELECT COUNT(*) n FROM bare_messages WHERE id IN (?) AND deliveries > 1',
          [ids],
        ),
      };
      const exactlyOnce =
        new Set(ids).size === ids.length &&
        detail.rows === ids.length &&
        detail.delivered === ids.length &&
        detail.doubled === 0;
      return { exactlyOnce, detail };
    },
    stop: async () => {
      const failed = await stopAll([...children].reverse());
      await conn.end().catch(() => undefined);
      await db.drop().catch((err: unknown) => log(`could not drop the database: ${String(err)}`));
      await admin.deleteTopics({ topics: [requestsTopic, receiptsTopic] }).catch(() => undefined);
      await admin.disconnect();
      return { failed };
    },
  };
}

/**
 * Consumer groups of a fresh prefix, committed at the end of every Pigeon topic that exists: the
 * services' consumers start from the beginning when their group is new, and on a shared broker
 * (a developer's, with other runs' records on the same fixed topic names) that would make the
 * bench drain everyone's history. On a fresh broker of the bench's own there is nothing to skip.
 */
/** The consumer groups of a supplier bridge whose group is `group`: one per lane and the delay one. */
export function bridgeGroups(group: string): string[] {
  return ['high', 'normal', 'bulk', 'delay'].map((lane) => `${group}.${lane}`);
}

export async function startGroupsAtTopicEnds(groups: readonly string[]): Promise<void> {
  const kafka = new Kafka({
    brokers: TEST_KAFKA_BROKERS,
    clientId: 'bench-offsets',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const topics = ALL_TOPICS.filter((t) => existing.has(t));
  const ends = await Promise.all(
    topics.map(async (topic) => ({
      topic,
      partitions: (await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => ({
        partition,
        offset: high,
      })),
    })),
  );
  await admin.disconnect();
  if (topics.length === 0) return;
  // One member per group joins, commits the ends of every topic, and leaves (admin.setOffsets
  // would join once per topic, seconds each).
  await Promise.all(
    groups.map(async (groupId) => {
      const consumer = kafka.consumer({ groupId });
      const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
      await consumer.connect();
      try {
        await consumer.subscribe({ topics, fromBeginning: false });
        await consumer.run({ autoCommit: false, eachBatch: async () => undefined });
        await joined;
        await consumer.commitOffsets(
          ends.flatMap(({ topic, partitions }) =>
            partitions.map(({ partition, offset }) => ({ topic, partition, offset })),
          ),
        );
      } finally {
        await consumer.disconnect();
      }
    }),
  );
}

export interface PigeonOptions {
  provider: FakeProvider;
  partitions: number;
  concurrency: number;
  apiWorkers?: number;
  bridges?: number;
  persisters?: number;
  profileDir?: string;
  /** One more bridge, for the high lane alone (PIGEON_BRIDGE_LANES); the others get the rest. */
  urgentBridge?: boolean;
}

const PIGEON_API_KEY = 'pgn_bench_e2e_delivery_fixed_key_0001';
const PROVIDER_NAME = 'bench-http';

/** The `http` provider options that send to the fake provider (its request and answer format). */
export function fakeProviderOptions(provider: FakeProvider): Record<string, unknown> {
  return {
    url: `${provider.url}/send`,
    method: 'POST',
    body: '{"to":"{{to}}","text":"{{body}}","ref":"{{messageId}}","callback":"{{callbackUrl}}"}',
    bodyEncoding: 'json',
    messageIdPath: 'id',
  };
}

/** The `http` provider definition that sends to the fake provider and takes its signed receipts. */
function providerConfig(provider: FakeProvider): unknown {
  return {
    providers: [
      {
        name: PROVIDER_NAME,
        type: 'http',
        weight: 1,
        options: {
          ...fakeProviderOptions(provider),
          receipt: {
            signatureHeader: FAKE_SIGNATURE_HEADER,
            signatureSecret: provider.secret,
            idPath: 'id',
            referencePath: 'ref',
            statusPath: 'status',
            statusMap: { DELIVERED: 'delivered' },
          },
        },
      },
    ],
  };
}

/**
 * Pigeon's four services as separate processes over the bench's Kafka, a fresh MariaDB database
 * and Redis, sending through the fake provider; with more bridges and persisters when asked
 * (they share the partitions through their consumer groups) and the api as cluster workers.
 */
export async function startPigeon(options: PigeonOptions): Promise<Pipeline> {
  const tenant = `bench-${uniqueSuffix()}`;
  const groupPrefix = `bench-${uniqueSuffix()}`;
  await startGroupsAtTopicEnds([...bridgeGroups(`${groupPrefix}-bridge`), `${groupPrefix}-persister`]);
  const db = await createTestDatabase();
  const configDir = mkdtempSync(join(tmpdir(), 'pigeon-bench-'));
  const configPath = join(configDir, 'pigeon.json');
  writeFileSync(configPath, JSON.stringify(providerConfig(options.provider)), { mode: 0o600 });
  const apiPort = await freePort();
  const apiBase = `http://127.0.0.1:${apiPort}`;
  const common: Record<string, string> = {
    KAFKA_BROKERS: TEST_KAFKA_BROKERS.join(','),
    KAFKA_PARTITIONS: String(options.partitions),
    MYSQL_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    PIGEON_API_KEY,
    PIGEON_TENANT: tenant,
    KAFKA_GROUP_PREFIX: groupPrefix,
    PIGEON_PUBLIC_URL: apiBase,
    PIGEON_CONFIG: configPath,
    PIGEON_SECRETS_KEY: randomBytes(32).toString('hex'),
    PIGEON_BRIDGE_CONCURRENCY: String(options.concurrency),
    ...BENCH_SEND_POLICY,
    LOG_LEVEL: 'warn',
    ...countingEnv(
      benchChildNodeOptions(
        options.profileDir ? `--cpu-prof --cpu-prof-dir=${options.profileDir}` : undefined,
      ),
    ),
  };
  const layout: Array<[service: string, label: string, env: Record<string, string>]> = [];
  // The persister first: it migrates the fresh database the others read at start.
  const persisters = options.persisters ?? 1;
  const bridges = options.bridges ?? 1;
  for (let i = 1; i <= persisters; i++)
    layout.push(['persister', persisters > 1 ? `persister ${i}` : 'persister', {}]);
  const lanes: Record<string, string> = options.urgentBridge
    ? { PIGEON_BRIDGE_LANES: 'normal,bulk,delay' }
    : {};
  for (let i = 1; i <= bridges; i++)
    layout.push(['supplier-bridge', bridges > 1 ? `supplier-bridge ${i}` : 'supplier-bridge', lanes]);
  if (options.urgentBridge)
    layout.push(['supplier-bridge', 'supplier-bridge high', { PIGEON_BRIDGE_LANES: 'high' }]);
  layout.push(['monitor', 'monitor', {}]);
  layout.push(['api', 'api', { PIGEON_API_WORKERS: String(options.apiWorkers ?? 1) }]);
  const services: BenchChild[] = [];
  try {
    for (const [service, label, extra] of layout) {
      const port = service === 'api' ? apiPort : await freePort();
      const started = startServiceProcess(service, { ...common, ...extra, PORT: String(port) });
      services.push(fromService(started, label, `http://127.0.0.1:${port}`));
      await waitForReady(`http://127.0.0.1:${port}/readyz`, started, 90_000);
    }
  } catch (err) {
    await stopAll([...services].reverse());
    await db.drop().catch(() => undefined);
    throw err;
  }
  const conn = await mysql.createConnection({ uri: db.url });
  return {
    label: 'pigeon',
    acceptUrl: apiBase,
    mysqlUrl: db.url,
    tenant,
    apiKey: PIGEON_API_KEY,
    processes: services,
    delivered: () =>
      count(conn, `SELECT COUNT(*) n FROM messages WHERE tenant_id = ? AND status = 'delivered'`, [tenant]),
    verify: async (ids) => {
      const byType = async (type: string) =>
        count(conn, 'SELECT COUNT(*) n FROM message_events WHERE message_id IN (?) AND type = ?', [
          ids,
          type,
        ]);
      const detail = {
        rows: await count(conn, 'SELECT COUNT(*) n FROM messages WHERE id IN (?)', [ids]),
        delivered: await count(
          conn,
          `SELECT COUNT(*) n FROM messages WHERE id IN (?) AND status = 'delivered'`,
          [ids],
        ),
        events: await count(conn, 'SELECT COUNT(*) n FROM message_events WHERE message_id IN (?)', [ids]),
        requested: await byType('message.requested'),
        submitted: await byType('message.submitted'),
        receipts: await byType('receipt.received'),
        doubled: await count(
          conn,
          `SELECT COUNT(*) n FROM (SELECT message_id, type FROM message_events WHERE message_id IN (?)
            GROUP BY message_id, type HAVING COUNT(*) > 1) d`,
          [ids],
        ),
        // Where the messages that did not arrive stopped, so a failed check says why.
        not_delivered: Object.fromEntries(
          (
            (
              await conn.query(
                `SELECT status, COUNT(*) n FROM messages WHERE id IN (?) AND status <> 'delivered' GROUP BY status`,
                [ids],
              )
            )[0] as Array<{ status: string; n: number }>
          ).map((r) => [r.status, Number(r.n)]),
        ),
      };
      const n = ids.length;
      const exactlyOnce =
        new Set(ids).size === n &&
        detail.rows === n &&
        detail.delivered === n &&
        detail.events === 3 * n &&
        detail.requested === n &&
        detail.submitted === n &&
        detail.receipts === n &&
        detail.doubled === 0;
      return { exactlyOnce, detail };
    },
    stop: async () => {
      await conn.end().catch(() => undefined);
      // API first, as a rolling shutdown would.
      const failed = await stopAll([...services].reverse());
      await db.drop().catch((err: unknown) => log(`could not drop the database: ${String(err)}`));
      return { failed };
    },
  };
}

export interface LoadResult {
  ids: string[];
  refused: number;
  /** Requests that failed without an answer (connection errors). */
  errors: number;
  refusals: Map<string, number>;
  seconds: number;
}

/**
 * Posts `total` messages from `concurrency` workers, each on a kept-alive connection of its own
 * (bench/http-client.ts, far cheaper than fetch), or, with `ratePerSecond`, paced to that rate;
 * every non-202 answer and every failed request is counted. Every request has its own body.
 */
export async function postMessages(
  pipeline: Pipeline,
  opts: { first: number; total: number; concurrency: number; ratePerSecond?: number },
): Promise<LoadResult> {
  const ids: string[] = [];
  const refusals = new Map<string, number>();
  let errors = 0;
  let next = 0;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (pipeline.apiKey) headers.authorization = `Bearer ${pipeline.apiKey}`;
  const url = new URL(pipeline.acceptUrl);
  const path = `${url.pathname.replace(/\/$/, '')}/v1/messages`;
  const started = performance.now();
  const worker = async () => {
    const connection = new KeptAliveConnection(url, headers);
    try {
      for (let i = next++; i < opts.total; i = next++) {
        if (opts.ratePerSecond) {
          const due = started + (i * 1000) / opts.ratePerSecond;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
        }
        const n = opts.first + i;
        try {
          const { status, body: text } = await connection.post(
            path,
            JSON.stringify({ to: recipient(n), body: body(n) }),
          );
          if (status === 202) ids.push((JSON.parse(text) as { id: string }).id);
          else {
            const key = `${status} ${text.slice(0, 200)}`;
            refusals.set(key, (refusals.get(key) ?? 0) + 1);
          }
        } catch {
          errors++;
        }
      }
    } finally {
      connection.close();
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return {
    ids,
    refused: opts.total - ids.length - errors,
    errors,
    refusals,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Until the fake provider has posted `receipts` receipts (counted since it started), answered 2xx.
 * A cheap stand-in for the store's count while most messages are still on their way: that count
 * reads every delivered row of the run, ten times a second, and the same `COUNT(*)` costs the
 * gateway's wide, many-indexed table far more than the bare pipeline's three-column one, so
 * polling the store all through a run charged the database's CPU (shared with both pipelines on
 * two cores) mostly to the gateway.
 */
export interface ReceiptsGate {
  provider: FakeProvider;
  receipts: number;
}

/**
 * Waits until the pipeline shows `target` delivered; false when nothing moved for `stallSeconds`.
 * With a gate, the store is read only once the provider has posted that many receipts.
 */
export async function waitDelivered(
  pipeline: Pipeline,
  target: number,
  stallSeconds: number,
  gate?: ReceiptsGate,
): Promise<boolean> {
  let receipts = gate ? (await gate.provider.stats()).receipts : 0;
  let current = gate && receipts < gate.receipts ? 0 : await pipeline.delivered();
  let lastProgress = performance.now();
  let lastReport = performance.now();
  while (current < target) {
    await sleep(100);
    if (gate && receipts < gate.receipts) {
      const posted = (await gate.provider.stats()).receipts;
      if (posted !== receipts) lastProgress = performance.now();
      receipts = posted;
      if (performance.now() - lastProgress > stallSeconds * 1000) {
        log(
          `STUCK: ${pipeline.label} ${receipts}/${gate.receipts} receipts posted, none for ${stallSeconds} s`,
        );
        return false;
      }
      continue;
    }
    const seen = await pipeline.delivered();
    if (seen !== current) lastProgress = performance.now();
    current = seen;
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now();
      log(`  ${pipeline.label}: ${current}/${target} delivered`);
    }
    if (performance.now() - lastProgress > stallSeconds * 1000) {
      log(`STUCK: ${pipeline.label} ${current}/${target} delivered, no progress for ${stallSeconds} s`);
      return false;
    }
  }
  return true;
}

export interface DeliveryFigures {
  accepted: number;
  refused: number;
  errors: number;
  accept_rps: number;
  delivered_per_s: number;
  all_delivered_s: number | null;
  exactly_once: boolean;
  /** µs of CPU per delivered message, by process (-1: not found). */
  cpu_us_per_msg: Record<string, number>;
  cpu: CpuRow[];
  /** Connections the fake provider accepted during the timed run: a pool that keeps them alive opens few. */
  provider_connections: number;
  /** Kafka requests per delivered message, by process and API (bench/kafka-requests.ts). */
  kafka_requests_per_msg: Record<string, Record<string, number>>;
  /** MariaDB statements per delivered message, by process and kind (bench/sql-statements.ts). */
  sql: SqlStatementFigures;
  check: Record<string, unknown>;
}

export interface DeliveryOptions {
  warmup: number;
  total: number;
  concurrency: number;
  stallSeconds: number;
}

/**
 * One measured run: a warm-up (posted and delivered, not counted), then `total` messages timed
 * from the first request until all accepted ones are delivered, with each process's CPU sampled
 * at both ends of that window, then the exactly-once check over the accepted ids.
 */
export async function measureDelivery(
  pipeline: Pipeline,
  provider: FakeProvider,
  opts: DeliveryOptions,
): Promise<DeliveryFigures> {
  log(`${pipeline.label}: warm-up of ${opts.warmup} messages…`);
  const warm = await postMessages(pipeline, { first: 0, total: opts.warmup, concurrency: opts.concurrency });
  if (!(await waitDelivered(pipeline, warm.ids.length, opts.stallSeconds)))
    throw new Error(`${pipeline.label}: the warm-up was never delivered`);
  const before = await pipeline.delivered();
  const { receipts: receiptsBefore, connections: connectionsBefore } = await provider.stats();
  const meter = new CpuMeter({
    ...Object.fromEntries(pipeline.processes.map((p) => [p.name, p.pid])),
    'fake provider': provider.pid,
    // Its children are the services and the fake provider, measured on their own rows.
    'load generator': withoutChildren(process.pid),
    ...infrastructurePids({
      kafkaBroker: TEST_KAFKA_BROKERS[0],
      mysqlUrl: TEST_MYSQL_URL,
      redisUrl: TEST_REDIS_URL,
    }),
  });
  const requests = new KafkaRequestMeter(Object.fromEntries(pipeline.processes.map((p) => [p.name, p.pid])));
  const statements = new SqlStatementMeter(
    {
      ...Object.fromEntries(pipeline.processes.map((p) => [p.name, p.pid])),
      'load generator': process.pid,
    },
    TEST_MYSQL_URL,
  );
  log(`${pipeline.label}: posting ${opts.total} messages, ${opts.concurrency} in flight…`);
  requests.start();
  await statements.start();
  meter.start();
  const started = performance.now();
  const load = await postMessages(pipeline, {
    first: opts.warmup,
    total: opts.total,
    concurrency: opts.concurrency,
  });
  log(
    `${pipeline.label}: accepted ${load.ids.length} in ${round(load.seconds, 2)} s, ` +
      `${load.refused} refused, ${load.errors} failed`,
  );
  for (const [what, n] of load.refusals) log(`  refused ${n}×: ${what}`);
  const allDelivered = await waitDelivered(pipeline, before + load.ids.length, opts.stallSeconds, {
    provider,
    receipts: receiptsBefore + load.ids.length,
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter.stop(load.ids.length);
  const kafkaRequests = await requests.stop(load.ids.length);
  const sql = await statements.stop(load.ids.length);
  const connections = (await provider.stats()).connections - connectionsBefore;
  // Late duplicates would show up shortly after; give them a moment before checking.
  await sleep(2000);
  const { exactlyOnce, detail } = await pipeline.verify(load.ids);
  log(`${pipeline.label}: checks ${JSON.stringify(detail)} → exactly once: ${exactlyOnce}`);
  return {
    accepted: load.ids.length,
    refused: load.refused,
    errors: load.errors,
    accept_rps: round(load.ids.length / load.seconds),
    delivered_per_s: allDelivered ? round(load.ids.length / seconds) : 0,
    all_delivered_s: allDelivered ? round(seconds, 2) : null,
    exactly_once: allDelivered && exactlyOnce,
    cpu_us_per_msg: Object.fromEntries(cpu.map((row) => [row.process, row.us_per_msg])),
    cpu,
    provider_connections: connections,
    kafka_requests_per_msg: kafkaRequests,
    sql,
    check: detail,
  };
}
