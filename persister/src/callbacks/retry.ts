/**
 * When a failed callback is tried again: exponential backoff from 5 s, doubling up to an hour
 * between attempts, each wait spread ±20 % so the deliveries a dead endpoint collected do not all
 * come back in the same second; about 30 attempts fit in the default 24 hours.
 */
export const CALLBACK_RETRY = {
  initialMs: 5_000,
  factor: 2,
  maxMs: 3_600_000,
  jitter: 0.2,
} as const;

/** The wait after the `failures`-th failed attempt (1 = the first); `random` in [0, 1). */
export function callbackRetryDelayMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(
    CALLBACK_RETRY.maxMs,
    CALLBACK_RETRY.initialMs * CALLBACK_RETRY.factor ** Math.max(0, failures - 1),
  );
  return Math.round(base * (1 - CALLBACK_RETRY.jitter + 2 * CALLBACK_RETRY.jitter * random()));
}

/**
 * The next attempt after a failure, or undefined when the delivery is given up: never later
 * than `createdAt + maxAgeMs`, and one last attempt at that instant if the wait would pass it.
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
  return Math.min(now + callbackRetryDelayMs(failures, random), deadline);
}
