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
  private readonly firsts = new Map<string, SlidingCount>();
  private readonly retries = new Map<string, SlidingCount>();

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = options.ratio ?? 0.1;
    this.floor = options.floor ?? 600;
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  recordFirstAttempt(provider: string): void {
    this.count(this.firsts, provider).add(this.now());
  }

  /** Spends one retry on `provider` if the budget allows; false means do not call it now. */
  tryRetry(provider: string): boolean {
    const now = this.now();
    const retries = this.count(this.retries, provider);
    if (retries.total(now) >= this.floor + this.ratio * this.count(this.firsts, provider).total(now)) {
      return false;
    }
    retries.add(now);
    return true;
  }

  private count(map: Map<string, SlidingCount>, provider: string): SlidingCount {
    let count = map.get(provider);
    if (!count) {
      count = new SlidingCount(this.windowMs);
      map.set(provider, count);
    }
    return count;
  }
}

/** Slots a window is counted in: a count covers the window to within one slot. */
const WINDOW_SLOTS = 60;

/**
 * Events in a sliding window, counted per slot (a 60th of the window, a second by default), so an
 * event costs an increment and a total a sum over the slots, whatever the rate. It kept every
 * event's time before and trimmed the array from the front on each first attempt: at a thousand
 * first attempts a second to one provider, a copy of 60,000 times every millisecond or so, ~5 µs
 * an attempt. The window is now between 59 and 60 slots long.
 */
export class SlidingCount {
  private readonly slotMs: number;
  /** Which slot (time ÷ slotMs) each ring position counts, and its count. */
  private readonly slots = new Float64Array(WINDOW_SLOTS).fill(-1);
  private readonly counts = new Uint32Array(WINDOW_SLOTS);

  constructor(windowMs: number) {
    this.slotMs = windowMs / WINDOW_SLOTS;
  }

  add(at: number): void {
    const slot = Math.floor(at / this.slotMs);
    const i = slot % WINDOW_SLOTS;
    if (this.slots[i] !== slot) {
      this.slots[i] = slot;
      this.counts[i] = 0;
    }
    this.counts[i]!++;
  }

  /** Events in the window ending at `at`. */
  total(at: number): number {
    const newest = Math.floor(at / this.slotMs);
    let total = 0;
    for (let i = 0; i < WINDOW_SLOTS; i++) {
      const slot = this.slots[i]!;
      if (slot > newest - WINDOW_SLOTS && slot <= newest) total += this.counts[i]!;
    }
    return total;
  }
}
