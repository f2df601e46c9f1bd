import { type ChildProcess, spawn } from 'node:child_process';
import { heapArgs } from '../../bin/service-heap.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then resolves with the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  kill(): void;
}

/** How a service process is launched: node's arguments before the service name, and where. */
export interface Launch {
  cwd?: string;
  entry: string[];
}

/** From the source tree, through tsx. */
export const FROM_SOURCE: Launch = { entry: ['--import', 'tsx', 'bin/cli.ts'] };

/**
 * Starts `pigeon <service>` (from the source tree unless `launch` says otherwise) as a separate
 * process, with the heap cap production gives that service (bin/service-heap.ts).
 */
export function startServiceProcess(
  service: string,
  env: Record<string, string>,
  launch: Launch = FROM_SOURCE,
): ServiceProcess {
  const child = spawn(process.execPath, [...heapArgs(service), ...launch.entry, service], {
    cwd: launch.cwd,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name: service,
    child,
    output: () => out,
    kill: () => child.kill('SIGKILL'),
    stop: async (graceMs = 25_000) => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Waits until `url` answers 200 (a service's /readyz), failing with the process's output. */
export async function waitForReady(url: string, service: ServiceProcess, timeoutMs = 60_000): Promise<void> {
  try {
    await waitFor(
      async () => {
        if (service.child.exitCode !== null) throw new Error(`${service.name} exited early`);
        try {
          return (await fetch(url)).status === 200;
        } catch {
          return false;
        }
      },
      timeoutMs,
      `${service.name} ready at ${url}`,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- ${service.name} output ---\n${service.output()}`, {
      cause: err,
    });
  }
}

export interface RunningGateway {
  apiBase: string;
  services: ServiceProcess[];
  /** SIGTERM to each service, API first (as a rolling shutdown would); the exit codes by name. */
  stop(): Promise<Record<string, number | null>>;
}

/**
 * The four services as separate processes sharing `env` (Kafka, MySQL, Redis, API key…), each on
 * a free port; resolves once every one answers /readyz.
 */
export async function startGateway(
  env: Record<string, string>,
  launch: Launch = FROM_SOURCE,
): Promise<RunningGateway> {
  const apiPort = await freePort();
  const apiBase = `http://127.0.0.1:${apiPort}`;
  const common = { PIGEON_PUBLIC_URL: apiBase, ...env };
  const services: ServiceProcess[] = [];
  const ready: Promise<void>[] = [];
  for (const name of ['persister', 'supplier-bridge', 'monitor', 'api']) {
    const port = name === 'api' ? apiPort : await freePort();
    const service = startServiceProcess(name, { ...common, PORT: String(port) }, launch);
    services.push(service);
    ready.push(waitForReady(`http://127.0.0.1:${port}/readyz`, service, 90_000));
  }
  try {
    await Promise.all(ready);
  } catch (err) {
    for (const service of services) service.kill();
    throw err;
  }
  return {
    apiBase,
    services,
    stop: async () => {
      const codes: Record<string, number | null> = {};
      for (const service of [...services].reverse()) codes[service.name] = await service.stop();
      return codes;
    },
  };
}
