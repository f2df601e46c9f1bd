import type { ScheduleBackoff } from '../../../core/retry.ts';
import type { Pass } from './pass.ts';

/**
 * When to try a message again after every provider refused it without sending, and how much
 * retrying a provider may take. Pure: time comes in as an argument.
 */

/**
 * Waits before retry round n (1-based); the last one repeats. Grows so an outage costs little,
 * with ±20 % jitter so retries of one outage do not align.
 */
export const ROUND_BACKOFF: ScheduleBackoff = {
  kind: 'schedule',
  stepsMs: [1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000],
  jitter: 0.2,
};

/** Rounds after which a message is given up as poison and sent to the DLQ, if it has not expired. */
export const DEFAULT_MAX_ROUNDS = 30;

/** While no provider is even called, the wait grows only this far: a returning provider is found soon. */
const MAX_IDLE_RETRY_STEP = 3;

/**
 * The retry round after a pass in which no provider took the message: its number, the refused
 * rounds so far, and the step of ROUND_BACKOFF to wait. `called`: the pass reached a provider.
 */
export function nextRound(
  pass: Pass,
  called: boolean,
): { round: number; refusedRounds: number; step: number } {
  // `round` numbers the passes (each has its own markers); `refusedRounds` counts only those
  // that reached a provider. A pass skipped by open breakers waits at most the third step, so
  // messages held through an outage go out seconds after a provider is back, not after the
  // hour-long waits a provider that keeps refusing earns.
  const round = pass.kind === 'retry' ? pass.round + 1 : 1;
  const refusedBefore = pass.kind === 'retry' ? (pass.refusedRounds ?? pass.round) : 0;
  const refusedRounds = refusedBefore + (called ? 1 : 0);
  const step = called ? refusedRounds : Math.min(Math.max(refusedRounds, round), MAX_IDLE_RETRY_STEP);
  return { round, refusedRounds, step };
}

export interface RetryBudgetOptions {
  /** Share of first attempts that retries may add, per provider (default 0.1). */
  ratio?: number;
  /** Retries always allowed per window, so a quiet provider can still be retried (default 600, 10/s). */
  floor?: number;
  /** Sliding window (default 60 s). */
  windowMs?: number;
  now?: () => number;
}

/**
 * A retry budget per provider: retries ≤ floor + ratio × first attempts over the last window. When
 * a provider is failing, retries are what multiplies its load; the budget caps that multiplier
 * (the pattern of Finagle's RetryBudget: 10 % of requests plus 10 retries a second, and gRPC's
 * retry throttling). Calls an open breaker refuses are not counted: they never reach the provider.
 */
export class RetryBudget {
  private readonly ratio: number;
  private readonly floor: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  /** Per provider: event times, oldest first. */
  private readonly firsts = new Map<string, number[]>();
  private readonly retries = new Map<string, number[]>();

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.1;
    this.floor = options.floor ?? 600;
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  recordFirstAttempt(provider: string): void {
    this.window(this.firsts, provider).push(this.now());
  }

  /** Spends one retry on `provider` if the budget allows; false means do not call it now. */
  tryRetry(provider: string): boolean {
    const firsts = this.window(this.firsts, provider).length;
    const retries = this.window(this.retries, provider);
    if (retries.length >= this.floor + this.ratio * firsts) return false;
    retries.push(this.now());
    return true;
  }

  private window(map: Map<string, number[]>, provider: string): number[] {
    let times = map.get(provider);
    if (!times) {
      times = [];
      map.set(provider, times);
    }
    const oldest = this.now() - this.windowMs;
    let drop = 0;
    while (drop < times.length && times[drop]! <= oldest) drop++;
    if (drop > 0) times.splice(0, drop);
    return times;
  }
}
