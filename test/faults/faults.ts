/**
 * The faults, one at a time. Each breaks one thing for a while and then mends it the way
 * operations would: a killed process is started again (as an orchestrator does after a few
 * seconds), a broker resumes on its own data, a link is restored, a provider behaves again.
 */
import { Topics } from '../../core/topics.ts';
import type { Deployment, ServiceName } from './deployment.ts';

export interface Fault {
  name: string;
  inject(d: Deployment): Promise<void>;
  /** How long the fault lasts before `restore`. */
  holdMs: number;
  restore(d: Deployment): Promise<void>;
}

/** An orchestrator restarts a crashed container after a few seconds, not at once. */
const RESTART_AFTER_MS = 3_000;

function killAndRestart(name: string, pick: (d: Deployment) => Promise<ServiceName>): Fault {
  let victim: ServiceName | undefined;
  return {
    name,
    holdMs: RESTART_AFTER_MS,
    inject: async (d) => {
      victim = await pick(d);
      d.kill(victim);
    },
    restore: (d) => d.restart(victim!),
  };
}

function brokerFault(name: string, topic: string, holdMs: number, stop: 'kill' | 'pause'): Fault {
  let node = 0;
  return {
    name,
    holdMs,
    inject: async (d) => {
      node = await d.partitionLeader(topic);
      await (stop === 'kill' ? d.cluster.kill(node) : d.cluster.pause(node));
    },
    restore: (d) => (stop === 'kill' ? d.cluster.resume(node) : d.cluster.unpause(node)),
  };
}

function providerFault(name: string, behaviour: Record<string, unknown>): Fault {
  return {
    name,
    holdMs: 20_000,
    inject: (d) => d.setBehaviour('sim-a', behaviour),
    restore: (d) => d.setBehaviour('sim-a', undefined),
  };
}

export const FAULTS = {
  'bridge kill -9': killAndRestart('bridge kill -9', async () => 'bridge-1'),
  'persister kill -9': killAndRestart('persister kill -9', async () => 'persister-1'),
  'api kill -9': killAndRestart('api kill -9', async () => 'api'),
  'monitor leader kill -9': killAndRestart(
    'monitor leader kill -9',
    async (d) => (await d.monitorLeader()) ?? 'monitor-1',
  ),
  'leader broker kill': brokerFault('leader broker kill', Topics.sendHigh, 15_000, 'kill'),
  'broker pause 20 s': brokerFault('broker pause 20 s', Topics.sendNormal, 20_000, 'pause'),
  'MariaDB cut 15 s': {
    name: 'MariaDB cut 15 s',
    holdMs: 15_000,
    inject: async (d) => d.mysql.cut(),
    restore: async (d) => d.mysql.restore(),
  },
  'Redis cut 15 s': {
    name: 'Redis cut 15 s',
    holdMs: 15_000,
    inject: async (d) => d.redis.cut(),
    restore: async (d) => d.redis.restore(),
  },
  'provider down': providerFault('provider down', { mode: 'down' }),
  'provider slow (3 s)': providerFault('provider slow (3 s)', { mode: 'slow', slowMs: 3_000 }),
  'provider ambiguous': providerFault('provider ambiguous', { mode: 'ambiguous', hangMs: 30_000 }),
  'provider 429': providerFault('provider 429', { mode: 'throttle', retryAfterMs: 2_000 }),
} as const satisfies Record<string, Fault>;

export type FaultName = keyof typeof FAULTS;

export const ALL_FAULTS = Object.keys(FAULTS) as FaultName[];
/** The default `npm test` run: a process crash, a broker crash and a cache outage. */
export const SHORT_FAULTS: FaultName[] = ['bridge kill -9', 'leader broker kill', 'Redis cut 15 s'];
