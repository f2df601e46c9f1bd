import { backoffDelay, type ExponentialBackoff } from '../../../core/retry.ts';

/**
 * When a failed callback is tried again: exponential backoff from 5 s, doubling up to an hour
 * between attempts, each wait spread ±20 % so the deliveries a dead endpoint collected do not all
 * come back in the same second; about 30 attempts fit in the default 24 hours.
 */
export const CALLBACK_RETRY: ExponentialBackoff = {
  kind: 'exponential',
  initialMs: 5_000,
  factor: 2,
  maxMs: 3_600_000,
  jitter: 0.2,
};

/**
 * The next attempt after the `failures`-th failure (1 = the first), or undefined when the delivery
 * is given up: never later than `createdAt + maxAgeMs`, and one last attempt at that instant if
 * the wait would pass it.
 */
export function nextAttemptAt(
  failures: number,
  now: number,
  createdAt: number,
  maxAgeMs: number,
  random: () => number = Math.random,
): number | undefined {
  const deadline = createdAt + maxAgeMs;
  if (now >= deadline) return undefined;
  return Math.min(now + backoffDelay(failures, CALLBACK_RETRY, random), deadline);
}
