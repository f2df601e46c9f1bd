/**
 * The fault suite's own 3-broker KRaft cluster (test/kafka/cluster.sh), on ports and in a
 * directory of its own so it never meets the development broker (9092), the test broker (19092+)
 * or the replication test's cluster (30092+). Destroyed on every way out, a crash of the test
 * process included.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = 'test/kafka/cluster.sh';

export interface FaultCluster {
  readonly brokers: string[];
  kill(node: number): Promise<void>;
  resume(node: number): Promise<void>;
  pause(node: number): Promise<void>;
  unpause(node: number): Promise<void>;
  destroy(): Promise<void>;
}

async function portBusy(port: number): Promise<boolean> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The first base port from `from` (in steps of 100) whose six client and controller ports are free. */
async function freeBase(from: number): Promise<number> {
  for (let base = from; base < from + 4_000; base += 100) {
    const ports = [0, 1, 10, 11, 20, 21].map((d) => base + d);
    const busy = await Promise.all(ports.map(portBusy));
    if (!busy.some(Boolean)) return base;
  }
  throw new Error(`no free ports for a kafka cluster from ${from}`);
}

/**
 * Below Linux's ephemeral range (32768-60999): a client reconnecting in a loop to a killed
 * broker's port inside that range can be handed that very port as its own source port (a TCP
 * self-connect), and the broker then cannot bind it when it resumes. Seen here: "Socket server
 * failed to bind to 127.0.0.1:39492: Address already in use" after a leader kill.
 */
const BASE_PORT = 28_092;

export async function startFaultCluster(fromPort = BASE_PORT): Promise<FaultCluster> {
  const base = await freeBase(fromPort);
  const home = join(process.cwd(), '.cache', `kafka-faults-${base}`);
  mkdirSync(home, { recursive: true });
  // A node resuming on a loaded machine replays its log before it answers: give it time.
  const env = {
    ...process.env,
    KAFKA_CLUSTER_PORT: String(base),
    KAFKA_CLUSTER_HOME: home,
    KAFKA_START_TIMEOUT: process.env.KAFKA_START_TIMEOUT ?? '180',
  };
  const cluster = (...args: string[]) => run('bash', [SCRIPT, ...args], { env, maxBuffer: 16 * 1024 * 1024 });
  // If this process dies without its clean-up, the brokers must not outlive it.
  const onExit = () => spawnSync('bash', [SCRIPT, 'destroy'], { env, stdio: 'ignore' });
  process.once('exit', onExit);
  try {
    await cluster('start');
  } catch (err) {
    await cluster('destroy').catch(() => undefined);
    process.off('exit', onExit);
    throw err;
  }
  const brokers = [0, 10, 20].map((d) => `127.0.0.1:${base + d}`);
  return {
    brokers,
    kill: async (node) => void (await cluster('kill', String(node))),
    resume: async (node) => void (await cluster('resume', String(node))),
    pause: async (node) => void (await cluster('pause', String(node))),
    unpause: async (node) => void (await cluster('unpause', String(node))),
    destroy: async () => {
      await cluster('destroy').catch(() => undefined);
      process.off('exit', onExit);
    },
  };
}
