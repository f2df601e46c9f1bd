/**
 * The test Redis Cluster (test/redis/cluster.sh: 3 masters, 3 replicas on loopback). Starting is
 * idempotent: a healthy cluster left by an earlier suite is reused, a broken one rebuilt.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { RedisClusterTarget } from '../../core/cache/redis-cache.ts';

const SCRIPT = fileURLToPath(new URL('../redis/cluster.sh', import.meta.url));
const BASE_PORT = Number(process.env.PIGEON_REDIS_CLUSTER_PORT ?? 7380);

/** The six nodes' ports; the first three start as masters. */
export const CLUSTER_PORTS = Array.from({ length: 6 }, (_, i) => BASE_PORT + i);

/** Runs test/redis/cluster.sh with `args`, throwing with its output when it fails. */
export function clusterScript(...args: string[]): string {
  const run = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) {
    throw new Error(`cluster.sh ${args.join(' ')} failed (${run.status}): ${run.stdout}${run.stderr}`);
  }
  return run.stdout;
}

/** clusterScript without blocking the event loop, for steps taken while load runs. */
export async function clusterScriptAsync(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [SCRIPT, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return stdout;
}

/** Starts the cluster unless it is up and healthy, and returns the seeds to connect to. */
export function startRedisCluster(): RedisClusterTarget {
  clusterScript('start');
  return { nodes: CLUSTER_PORTS.slice(0, 3).map((port) => ({ host: '127.0.0.1', port })), tls: false };
}
