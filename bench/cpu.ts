/**
 * CPU and memory accounting from /proc (Linux), so a bench can say how much CPU each process spent
 * per delivered message: utime + stime at the start and at the end of the measured window, for a
 * process and its children (cluster workers). Processes are found by pid (our children), by the
 * port they listen on (the broker, MariaDB, Redis), or by their command line.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`; 100 on every Linux we run). */
const TICKS_PER_SECOND = 100;

function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number);
  } catch {
    return [];
  }
}

/** A process and all its descendants, read from each process's parent pid. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const pid of allPids()) {
    const fields = statFields(pid);
    if (fields) parents.set(pid, Number(fields[1]));
  }
  const tree = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (!tree.has(pid) && tree.has(parent)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree].filter((pid) => parents.has(pid));
}

/** utime + stime of the processes, in seconds; processes gone meanwhile count as 0. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** Resident set size of the processes, in MiB. */
export function rssMiB(pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) kib += Number(match[1]);
    } catch {
      // gone meanwhile
    }
  }
  return Math.round((kib / 1024) * 10) / 10;
}

/** Socket inodes listening on `port` (IPv4 and IPv6), from /proc/net/tcp{,6}. */
function listeningInodes(port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is the tenth column.
      if (cols.length > 9 && cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A') inodes.add(cols[9]!);
    }
  }
  return inodes;
}

/** The process listening on a TCP port of this machine, when we may read its file descriptors. */
export function pidListeningOn(port: number): number | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  for (const pid of allPids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** The first process whose command line (NUL-separated words) matches. */
export function pidByCommand(matches: (cmdline: string) => boolean): number | undefined {
  for (const pid of allPids()) {
    try {
      if (matches(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '))) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

const portOf = (address: string | undefined, fallback: number): number => {
  const port = Number(address?.split(':').pop());
  return Number.isInteger(port) && port > 0 ? port : fallback;
};

/**
 * The infrastructure's processes: the Kafka broker, MariaDB and Redis, found by the port the bench
 * talks to (so a second broker on the machine is not mistaken for ours), else by name.
 */
export function infrastructurePids(opts: {
  kafkaBroker: string | undefined;
  mysqlUrl: string;
  redisUrl: string;
}): Record<string, number | undefined> {
  const mysqlPort = portOf(new URL(opts.mysqlUrl).port || undefined, 3306);
  const redisPort = portOf(new URL(opts.redisUrl).port || undefined, 6379);
  return {
    'kafka broker': pidListeningOn(portOf(opts.kafkaBroker, 9092)),
    mariadb: pidListeningOn(mysqlPort) ?? pidByCommand((c) => /(^|\/)(mariadbd|mysqld)(\s|$)/.test(c)),
    redis: pidListeningOn(redisPort) ?? pidByCommand((c) => /(^|\/)redis-server\b/.test(c)),
  };
}

export interface CpuRow {
  process: string;
  /** CPU seconds in the window (user + system). */
  cpu_s: number;
  /** µs of CPU per delivered message. */
  us_per_msg: number;
  /** Average use over the window, in % of one core. */
  core_pct: number;
}

/** A process measured without its children: the bench process, whose children are the services. */
export const withoutChildren = (pid: number) => ({ pid, children: false as const });

/**
 * Samples each named process (and its children, unless given through withoutChildren) at start()
 * and again at stop(), and turns the difference into µs of CPU per message. A process that could
 * not be found shows as -1.
 */
export class CpuMeter {
  private before = new Map<string, number>();
  private trees = new Map<string, number[]>();
  private startedAt = 0;

  constructor(
    private readonly processes: Record<string, number | ReturnType<typeof withoutChildren> | undefined>,
  ) {}

  start(): void {
    for (const [name, entry] of Object.entries(this.processes)) {
      if (entry === undefined) continue;
      const tree = typeof entry === 'number' ? processTree(entry) : [entry.pid];
      this.trees.set(name, tree);
      this.before.set(name, cpuSeconds(tree));
    }
    this.startedAt = performance.now();
  }

  stop(messages: number): CpuRow[] {
    const seconds = (performance.now() - this.startedAt) / 1000;
    return Object.keys(this.processes).map((name) => {
      const tree = this.trees.get(name);
      if (!tree) return { process: name, cpu_s: -1, us_per_msg: -1, core_pct: -1 };
      // Children started since (cluster workers) count too; ones that ended meanwhile are lost.
      const followed = typeof this.processes[name] === 'number';
      const now = followed ? [...new Set([...tree, ...processTree(tree[0]!)])] : tree;
      const used = cpuSeconds(now) - this.before.get(name)!;
      return {
        process: name,
        cpu_s: Math.round(used * 100) / 100,
        us_per_msg: messages > 0 ? Math.round((used * 1e6) / messages) : -1,
        core_pct: seconds > 0 ? Math.round((used / seconds) * 100) : -1,
      };
    });
  }
}

/** Machine-wide busy ticks and total ticks from /proc/stat, to tell a busy machine from a busy bench. */
export function machineTicks(): { busy: number; total: number } {
  try {
    const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const numbers = values.map(Number);
    const total = numbers.reduce((a, b) => a + b, 0);
    return { busy: total - (numbers[3] ?? 0) - (numbers[4] ?? 0), total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** A CPU table as aligned text, one row per process, with a total. */
export function formatCpuTable(title: string, rows: readonly CpuRow[]): string {
  const total = rows.filter((r) => r.us_per_msg >= 0).reduce((sum, r) => sum + r.us_per_msg, 0);
  const line = (a: string, b: string, c: string) => `  ${a.padEnd(18)} ${b.padStart(12)} ${c.padStart(12)}`;
  return [
    title,
    line('process', 'µs CPU/msg', '% of a core'),
    ...rows.map((r) =>
      line(
        r.process,
        r.us_per_msg < 0 ? 'n/a' : String(r.us_per_msg),
        r.core_pct < 0 ? 'n/a' : String(r.core_pct),
      ),
    ),
    line('total', String(total), ''),
  ].join('\n');
}
