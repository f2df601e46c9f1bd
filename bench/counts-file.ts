/**
 * Keeps `<dir>/<pid>.json` holding `{ ppid, counts }` for the benches' per-process counters
 * (bench/kafka-requests.ts, bench/sql-statements.ts), read back by their meters. Written once a
 * second and only when a count moved: a synchronous file write costs a few ms, which every 200 ms
 * came to several % of an idle service's CPU, charged to the service. Also written at exit.
 * Preloaded before tsx is registered, on Node's own type stripping: erasable syntax only.
 */
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh directory for the counts files, in memory (/dev/shm) where the machine has it: a write
 * there costs about 20 µs, against 0.7–6 ms on this machine's ext4 /tmp while a bench loads it,
 * and that cost lands on the service being measured. Removed when the process that made it exits.
 */
export function countsDir(prefix: string): string {
  let base = tmpdir();
  try {
    accessSync('/dev/shm', constants.W_OK);
    base = '/dev/shm';
  } catch {
    // No shared-memory filesystem: the system's temporary directory.
  }
  const dir = mkdtempSync(join(base, prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function keepCountsFile(dir: string, counts: object): void {
  let written = '';
  const write = () => {
    const text = JSON.stringify({ ppid: process.ppid, counts });
    if (text === written) return;
    try {
      writeFileSync(`${dir}/${process.pid}.json`, text);
      written = text;
    } catch {
      // The bench that reads the file is gone, and its directory with it.
    }
  };
  setInterval(write, 1000).unref();
  process.on('exit', write);
}
