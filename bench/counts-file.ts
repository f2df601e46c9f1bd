/**
 * Keeps `<dir>/<pid>.json` holding `{ ppid, counts }` for the benches' per-process counters
 * (bench/kafka-requests.ts, bench/sql-statements.ts), read back by their meters. Written once a
 * second and only when a count moved: a synchronous file write costs a few ms, which every 200 ms
 * came to several % of an idle service's CPU, charged to the service. Also written at exit.
 * Preloaded before tsx is registered, on Node's own type stripping: erasable syntax only.
 */
import { writeFileSync } from 'node:fs';

export function keepCountsFile(dir: string, counts: object): void {
  let written = '';
  const write = () => {
    const text = JSON.stringify({ ppid: process.ppid, counts });
    if (text === written) return;
    writeFileSync(`${dir}/${process.pid}.json`, text);
    written = text;
  };
  setInterval(write, 1000).unref();
  process.on('exit', write);
}
