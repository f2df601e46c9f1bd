import { type ChildProcess, spawn } from 'node:child_process';
import { waitFor } from './wait.ts';

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then resolves with the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  kill(): void;
}

/** Starts `pigeon <service>` from the source tree as a separate process. */
export function startServiceProcess(service: string, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'core/cli.ts', service], {
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
