import { fileURLToPath } from 'node:url';
/** A positive integer from the environment, for benchmark knobs such as BENCH_DURATION. */
export function envInt(name: string, fallback: number): number {
  return envIntegerAtLeast(name, fallback, 1);
}

/** A count from the environment where 0 means none, such as BENCH_WARMUP_ROUND_MESSAGES. */
export function envCount(name: string, fallback: number): number {
  return envIntegerAtLeast(name, fallback, 0);
}

function envIntegerAtLeast(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name}: expected ${min === 0 ? 'a whole number' : 'a positive integer'}, got "${raw}"`);
  return value;
}

/**
 * The send policy with every counter still run but its limits out of the way: a benchmark cycles a
 * few thousand recipients at thousands of messages a second, which the production caps refuse. The
 * policy's cost (one cache script per message) stays in the figures.
 */
export const BENCH_SEND_POLICY = {
  PIGEON_SEND_RATE_PER_SECOND: '1000000',
  PIGEON_SEND_BURST: '10000000',
  PIGEON_SEND_PER_RECIPIENT_HOUR: '1000000',
  PIGEON_SEND_PER_RECIPIENT_DAY: '1000000',
  PIGEON_SEND_DAILY_SPEND_CAP: '1000000000',
  PIGEON_SEND_MONTHLY_SPEND_CAP: '1000000000',
} as const;

/** The header the bench's fake provider signs its receipts in: hex HMAC-SHA256 of the body. */
export const FAKE_SIGNATURE_HEADER = 'x-fake-signature';

/** The bare pipeline's table; `deliveries` above 1 is a duplicate, which the exactly-once check sees. */
export const BARE_TABLE_SQL = `CREATE TABLE bare_messages (
  id VARCHAR(32) PRIMARY KEY,
  provider_message_id VARCHAR(64) NOT NULL,
  status VARCHAR(16) NOT NULL,
  deliveries INT NOT NULL DEFAULT 1
)`;

/** BENCH_QUICK=1 runs every bench small, to check that the benches work rather than to measure. */
export const BENCH_QUICK = process.env.BENCH_QUICK === '1';

/** A size knob's default: the full one, or the small one in quick mode. */
export function benchSize(full: number, quick: number): number {
  return BENCH_QUICK ? quick : full;
}

/** The `p`th percentile (0–100, nearest rank) of an ascending list; 0 for an empty one. */
export const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

const EXIT_WITH_PARENT = fileURLToPath(new URL('./exit-with-parent.ts', import.meta.url));

/**
 * NODE_OPTIONS for a process a bench starts: `nodeOptions` (by default the bench's own) with
 * bench/exit-with-parent.ts preloaded, so the process does not outlive the bench.
 */
export function benchChildNodeOptions(nodeOptions = process.env.NODE_OPTIONS ?? ''): string {
  return `${nodeOptions} --import ${EXIT_WITH_PARENT}`.trim();
}
