/**
 * The one retry policy: how long to wait before trying again, and whether trying again can help.
 * Pure: randomness comes in as an argument. Each retrying site names its own numbers as a policy
 * constant beside it; whether an error is worth retrying is read from the error's `retriable`
 * flag alone (PigeonError from the catalogue, ProviderError by its class, ChannelError, kafkajs
 * errors), never from its code or message.
 */

/** Waits that grow by `factor` from `initialMs` up to `maxMs`. */
export interface ExponentialBackoff {
  readonly kind: 'exponential';
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
  /** Each wait is spread ±`jitter` (0.2 = ±20 %) so the retries of one outage do not align. */
  readonly jitter: number;
}

/** Waits read from a table, one per attempt; the last one repeats. */
export interface ScheduleBackoff {
  readonly kind: 'schedule';
  readonly stepsMs: readonly number[];
  readonly jitter: number;
}

export type BackoffPolicy = ExponentialBackoff | ScheduleBackoff;

/**
 * The defaults: from 100 ms doubling to 2 s, ±20 %. Short, because most retried operations are
 * a broker or database coming back, and the first retry should find it soon.
 */
export const DEFAULT_BACKOFF: ExponentialBackoff = {
  kind: 'exponential',
  initialMs: 100,
  factor: 2,
  maxMs: 2_000,
  jitter: 0.2,
};

/** An exponential policy from `base` (the defaults), with the fields given (not undefined) replaced. */
export function exponentialBackoff(
  overrides: Partial<Omit<ExponentialBackoff, 'kind'>>,
  base: ExponentialBackoff = DEFAULT_BACKOFF,
): ExponentialBackoff {
  const defined = Object.entries(overrides).filter(([, value]) => value !== undefined);
  return { ...base, ...Object.fromEntries(defined) };
}

/** The wait before retry `attempt` (1 = the first retry); `random` in [0, 1). */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, attempt);
  const base =
    policy.kind === 'schedule'
      ? policy.stepsMs[Math.min(n, policy.stepsMs.length) - 1]!
      : Math.min(policy.maxMs, policy.initialMs * policy.factor ** (n - 1));
  if (policy.jitter === 0) return base;
  return Math.round(base * (1 - policy.jitter + 2 * policy.jitter * random()));
}

/**
 * A wait that grows with each failure in a row and starts over after a success, for loops that
 * retry one operation until it goes through.
 */
export class Backoff {
  #failures = 0;

  constructor(
    private readonly policy: BackoffPolicy = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Failures in a row so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Counts a failure and returns the wait before the next try. */
  next(): number {
    this.#failures++;
    return backoffDelay(this.#failures, this.policy, this.random);
  }

  reset(): void {
    this.#failures = 0;
  }
}

/** The error's own `retriable` flag, or undefined when it carries none (an error we cannot classify). */
export function retriableFlag(err: unknown): boolean | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const flag = (err as { retriable?: unknown }).retriable;
  return typeof flag === 'boolean' ? flag : undefined;
}

/** True when the error says trying again may work (an outage, a timeout, a throttle). */
export function isRetriable(err: unknown): boolean {
  return retriableFlag(err) === true;
}

/** True when the error says trying again cannot help until something changes (bad data, bad config). */
export function isPermanent(err: unknown): boolean {
  return retriableFlag(err) === false;
}
