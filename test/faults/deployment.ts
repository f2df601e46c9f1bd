/**
 * A production-shaped Pigeon for the fault suite, every part a process or link the suite can
 * break: api, two supplier bridges, two persisters and two monitors as separate processes on a
 * 3-broker cluster (RF 3, min ISR 2); MariaDB and Redis reached through TCP proxies the suite can
 * cut; two `pigeon simulator` processes as the providers, reached as generic HTTP providers, so a
 * bridge can die while the "provider" it sent to lives on and keeps its log.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { simulatorProviderDefinition } from '../../providers/simulator-server/definition.ts';
import type { SimulatorLog } from '../../providers/simulator-server/server.ts';
import { TEST_MYSQL_URL, TEST_REDIS_URL, uniqueSuffix } from '../support/infra.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { freePort } from '../support/ports.ts';
import { type ServiceProcess, startServiceProcess, waitForReady } from '../support/processes.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { type FaultCluster, startFaultCluster } from './cluster.ts';

export const SERVICE_NAMES = [
  'persister-1',
  'persister-2',
  'bridge-1',
  'bridge-2',
  'monitor-1',
  'monitor-2',
  'api',
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];
export const PROVIDERS = ['sim-a', 'sim-b'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

const COMMAND: Record<ServiceName, string> = {
  'persister-1': 'persister',
  'persister-2': 'persister',
  'bridge-1': 'supplier-bridge',
  'bridge-2': 'supplier-bridge',
  'monitor-1': 'monitor',
  'monitor-2': 'monitor',
  api: 'api',
};

interface Running {
  port: number;
  process: ServiceProcess;
}

export interface Deployment {
  readonly apiBase: string;
  readonly apiKey: string;
  readonly cluster: FaultCluster;
  readonly mysql: TcpProxy;
  readonly redis: TcpProxy;
  /** The store, reached directly (not through the proxy), for the checker. */
  readonly databaseUrl: string;
  readonly tag: string;
  kill(service: ServiceName): void;
  /** Starts a killed service again on its port; resolves when it is ready. */
  restart(service: ServiceName): Promise<void>;
  /** The pid of a running service. */
  pid(service: ServiceName): number | undefined;
  /** The monitor replica holding the lease, read from Redis. */
  monitorLeader(): Promise<ServiceName | undefined>;
  /** The node (1-3) leading partition 0 of `topic`. */
  partitionLeader(topic: string): Promise<number>;
  setBehaviour(provider: ProviderName, behaviour: Record<string, unknown> | undefined): Promise<void>;
  providerLog(provider: ProviderName, after: number): Promise<SimulatorLog>;
  /** The last lines of every process's output, for a failure's message. */
  output(): string;
  close(): Promise<void>;
}

/** Sends, verifications and checks are the load; the gateway's own limits must not refuse it. */
const LOAD_LIMITS = {
  PIGEON_SEND_RATE_PER_SECOND: '1000000',
  PIGEON_SEND_BURST: '10000000',
  PIGEON_SEND_PER_RECIPIENT_HOUR: '1000000',
  PIGEON_SEND_PER_RECIPIENT_DAY: '1000000',
  PIGEON_SEND_DAILY_SPEND_CAP: '1000000000',
  PIGEON_SEND_MONTHLY_SPEND_CAP: '1000000000',
  PIGEON_OTP_SENDS_PER_IP: '1000000/10m',
  PIGEON_OTP_CHECKS_PER_IP: '1000000/10m',
  // The load sends every one-time code into nine 1,000-number ranges: at the default (10 per range
  // in 10 minutes, then blocked for an hour) the pumping defence refused every OTP (429) after the
  // first seconds, and the high lane's figures described a lane with nothing to send.
  PIGEON_OTP_PREFIX_BURST: '1000000/10m',
};

export async function startDeployment(log: (line: string) => void): Promise<Deployment> {
  const tag = `faults-${uniqueSuffix()}`;
  const cleanups: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  };
  const services = new Map<ServiceName, Running>();
  const sims = new Map<ProviderName, { url: string; process: ServiceProcess }>();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'pigeon-faults-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

    const t0 = Date.now();
    const cluster = await startFaultCluster();
    cleanups.push(() => cluster.destroy());
    log(`cluster ready on ${cluster.brokers.join(',')} in ${Date.now() - t0} ms`);

    const db: TestDatabase = await createTestDatabase();
    cleanups.push(() => db.drop());
    const mysqlTarget = new URL(TEST_MYSQL_URL);
    const mysql = await startTcpProxy({
      targetHost: mysqlTarget.hostname,
      targetPort: Number(mysqlTarget.port || 3306),
    });
    cleanups.push(() => mysql.close());
    const redisTarget = new URL(TEST_REDIS_URL);
    const redis = await startTcpProxy({
      targetHost: redisTarget.hostname,
      targetPort: Number(redisTarget.port || 6379),
    });
    cleanups.push(() => redis.close());
    const viaProxy = (url: string, port: number) => {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    };

    const secrets = {
      PIGEON_SIMULATOR_TOKEN: randomBytes(18).toString('base64url'),
      PIGEON_SIMULATOR_SEND_KEY: randomBytes(18).toString('base64url'),
      PIGEON_SIMULATOR_SECRET: randomBytes(18).toString('base64url'),
    };
    // Both providers start side by side.
    const simulatorsReady: Promise<void>[] = [];
    for (const name of PROVIDERS) {
      const port = await freePort();
      const process = startServiceProcess(name, secrets, {
        entry: ['--import', 'tsx', 'bin/cli.ts', 'simulator', '--port', String(port), '--providers'],
      });
      cleanups.push(() => void process.stop(2_000));
      sims.set(name, { url: `http://127.0.0.1:${port}`, process });
      // A node start takes a minute and more on the shared 2-core machine at load average 40.
      simulatorsReady.push(waitForReady(`http://127.0.0.1:${port}/healthz`, process, 120_000));
    }
    await Promise.all(simulatorsReady);
    const configFile = join(dir, 'providers.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        providers: PROVIDERS.map((name) =>
          simulatorProviderDefinition({
            name,
            baseUrl: sims.get(name)!.url,
            sendKey: secrets.PIGEON_SIMULATOR_SEND_KEY,
            receiptSecret: secrets.PIGEON_SIMULATOR_SECRET,
          }),
        ),
      }),
    );

    const apiPort = await freePort();
    const apiBase = `http://127.0.0.1:${apiPort}`;
    const apiKey = `pgn_faults_${randomBytes(16).toString('hex')}`;
    const prefix = `${tag}:`;
    const env: Record<string, string> = {
      KAFKA_BROKERS: cluster.brokers.join(','),
      KAFKA_PARTITIONS: '6',
      KAFKA_GROUP_PREFIX: tag,
      PIGEON_KAFKA_REPLICATION_FACTOR: '3',
      PIGEON_KAFKA_MIN_INSYNC_REPLICAS: '2',
      MYSQL_URL: viaProxy(db.url, mysql.port),
      REDIS_URL: viaProxy(TEST_REDIS_URL, redis.port),
      PIGEON_REDIS_KEY_PREFIX: prefix,
      PIGEON_PUBLIC_URL: apiBase,
      PIGEON_API_KEY: apiKey,
      PIGEON_OTP_KEY: randomBytes(32).toString('hex'),
      PIGEON_FACTOR_KEY: randomBytes(32).toString('hex'),
      PIGEON_BODY_KEY: randomBytes(32).toString('hex'),
      PIGEON_TENANT: tag,
      PIGEON_TRUST_PROXY_HOPS: '1',
      PIGEON_CONFIG: configFile,
      PIGEON_SIMULATOR: 'false',
      // A receipt that never comes must end the message within the run.
      PIGEON_RECEIPT_DEADLINE_SECONDS: '30',
      PIGEON_RECEIPT_SWEEP_INTERVAL_SECONDS: '5',
      ...LOAD_LIMITS,
    };

    // Killed itself (Ctrl-C, a test runner's timeout), the suite must not leave processes behind.
    const emergency = () => {
      for (const s of [...services.values(), ...sims.values()]) s.process.child.kill('SIGKILL');
    };
    process.once('exit', emergency);
    cleanups.push(() => void process.off('exit', emergency));
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const onSignal = () => process.exit(130);
      process.once(signal, onSignal);
      cleanups.push(() => void process.off(signal, onSignal));
    }
    const start = async (name: ServiceName, port: number) => {
      const process = startServiceProcess(COMMAND[name], { ...env, PORT: String(port) });
      services.set(name, { port, process });
      await waitForReady(`http://127.0.0.1:${port}/readyz`, process, 240_000);
    };
    cleanups.push(async () => {
      await Promise.all([...services.values()].map((s) => s.process.stop(5_000)));
    });
    const t1 = Date.now();
    // The persisters migrate the store and create the topics before the others need them.
    await start('persister-1', await freePort());
    const rest: ServiceName[] = ['persister-2', 'bridge-1', 'bridge-2', 'monitor-1', 'monitor-2'];
    const ports = await Promise.all(rest.map(() => freePort()));
    await Promise.all(rest.map((name, i) => start(name, ports[i]!)));
    await start('api', apiPort);
    log(`services ready in ${Date.now() - t1} ms`);

    const redisClient = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
    cleanups.push(() => redisClient.disconnect());
    const kafka = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING, clientId: tag });
    const control = async (provider: ProviderName, path: string, init: RequestInit = {}) => {
      const response = await fetch(`${sims.get(provider)!.url}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${secrets.PIGEON_SIMULATOR_TOKEN}`,
          'content-type': 'application/json',
        },
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok)
        throw new Error(`simulator ${provider} ${path}: ${response.status} ${await response.text()}`);
      return response;
    };

    return {
      apiBase,
      apiKey,
      cluster,
      mysql,
      redis,
      databaseUrl: db.url,
      tag,
      kill: (name) => services.get(name)?.process.kill(),
      restart: (name) => start(name, services.get(name)!.port),
      pid: (name) => services.get(name)?.process.child.pid,
      monitorLeader: async () => {
        const keys = await redisClient.keys(`${prefix}*monitor:leader*`);
        const holder = keys[0] === undefined ? null : await redisClient.get(keys[0]);
        const pid = Number(holder?.split(':').pop());
        return (['monitor-1', 'monitor-2'] as const).find((m) => services.get(m)?.process.child.pid === pid);
      },
      partitionLeader: async (topic) => {
        const admin = kafka.admin();
        await admin.connect();
        try {
          const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
          const leader = metadata.topics[0]?.partitions.find((p) => p.partitionId === 0)?.leader;
          if (leader === undefined || leader < 1) throw new Error(`no leader for ${topic}/0`);
          return leader;
        } finally {
          await admin.disconnect();
        }
      },
      setBehaviour: async (provider, behaviour) => {
        await control(
          provider,
          `/providers/${provider}/behaviour`,
          behaviour ? { method: 'PUT', body: JSON.stringify(behaviour) } : { method: 'DELETE' },
        );
      },
      providerLog: async (provider, after) =>
        (await (await control(provider, `/log?after=${after}`)).json()) as SimulatorLog,
      output: () =>
        [...services.entries(), ...sims.entries()]
          .map(([name, s]) => `--- ${name} ---\n${s.process.output().slice(-3_000)}`)
          .join('\n'),
      close,
    };
  } catch (err) {
    const outputs = [...services.entries(), ...sims.entries()]
      .map(([name, s]) => `--- ${name} ---\n${s.process.output().slice(-2_000)}`)
      .join('\n');
    await close();
    throw new Error(`${(err as Error).message}\n${outputs}`, { cause: err });
  }
}
