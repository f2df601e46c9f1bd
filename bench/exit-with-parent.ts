/**
 * Preloaded (NODE_OPTIONS `--import`, `benchChildNodeOptions` in bench/support.ts) into every
 * process a bench starts: it ends once the process that started it is gone. A bench killed on its
 * own (SIGKILL, or a signal to its pid alone) left its services running; they reconnected to the
 * next bench's broker on the same port and took its messages. The process gets SIGTERM, so it
 * shuts down as at a bench's end, and is ended outright if that takes longer than a stop may.
 * Bench-only: nothing in the services loads it. It runs before tsx is registered, on Node's own
 * type stripping: erasable syntax only.
 */
const parent = process.ppid;
const STOP_GRACE_MS = 20_000;

const watch = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(watch);
  process.kill(process.pid, 'SIGTERM');
  setTimeout(() => process.exit(1), STOP_GRACE_MS).unref();
}, 1_000).unref();
