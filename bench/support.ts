/** A positive integer from the environment, for benchmark knobs such as BENCH_DURATION. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name}: expected a positive integer, got "${raw}"`);
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
