import type { ExponentialBackoff } from '../../core/retry.ts';

/**
 * How the persister's consumers wait while the database is unavailable: 200 ms doubling to 5 s,
 * without jitter, since each process holds its partitions and retries one write at a time.
 */
export const STORE_OUTAGE_BACKOFF: ExponentialBackoff = {
  kind: 'exponential',
  initialMs: 200,
  factor: 2,
  maxMs: 5_000,
  jitter: 0,
};
