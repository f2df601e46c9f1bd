/**
 * A series' own recent normal: an exponentially weighted moving average over about an hour,
 * corrected for its start (the average of what was seen so far, not a pull towards zero), and
 * trusted only after a warm-up. "Well below its own baseline" is how a provider that is always
 * at 70 % in one country and 99 % in another is judged fairly in both. Pure; time is passed in.
 */

export interface BaselineOptions {
  /** Time constant of the average. Default 60 min. */
  tauMs?: number;
  /**
   * Time constant while the series is breaching: the baseline must not learn an outage as the new
   * normal within the hour, but a lasting change (a carrier that now reports differently) is
   * accepted after some hours rather than alerting for ever. Default 12 h.
   */
  slowTauMs?: number;
  /** Observation time needed before the baseline is used. Default 10 min. */
  warmupMs?: number;
  /** Observations closer together than this are ignored (several rules feed one series). Default 10 s. */
  minIntervalMs?: number;
  /** A series not observed for this long is forgotten. Default 3 h. */
  forgetAfterMs?: number;
}

interface Average {
  sum: number;
  weight: number;
  at: number;
}

/**
 * A baseline as it is kept between monitor processes (core/store/kinds/baselines.ts): the
 * corrected average is `sum / weight`, `weight` says how much has been seen (warm at 1 − e^(−warm-up/τ)).
 */
export interface BaselineState {
  key: string;
  sum: number;
  weight: number;
  /** When the series was last observed. */
  at: number;
}

/** A baseline's key: the metric, the series' labels in a fixed order and the window, if any. */
export function baselineKey(
  metric: string,
  labels: Readonly<Record<string, string | undefined>>,
  windowMs?: number,
): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ''}`);
  return `${metric}{${parts.join(',')}}${windowMs === undefined ? '' : `@${windowMs / 1000}s`}`;
}

export class Baselines {
  private readonly tauMs: number;
  private readonly slowTauMs: number;
  private readonly warmWeight: number;
  private readonly minIntervalMs: number;
  /** A series not observed for this long is forgotten (and its stored row deleted). */
  readonly forgetAfterMs: number;
  private readonly averages = new Map<string, Average>();

  constructor(options: BaselineOptions = {}) {
    this.tauMs = options.tauMs ?? 60 * 60_000;
    this.slowTauMs = options.slowTauMs ?? 12 * 60 * 60_000;
    this.minIntervalMs = options.minIntervalMs ?? 10_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 3 * 60 * 60_000;
    this.warmWeight = 1 - Math.exp(-(options.warmupMs ?? 10 * 60_000) / this.tauMs);
  }

  /** Adds an observation of the series at time `at`; `slow` while the series is judged abnormal. */
  observe(key: string, value: number, at: number, slow = false): void {
    if (!Number.isFinite(value)) return;
    const avg = this.averages.get(key);
    if (avg === undefined && slow) {
      // An abnormal value is never where a normal starts (a provider dead from the first minute
      // would otherwise teach its baseline that 0 % is usual): an empty average marks the series
      // as seen, so that another observer of the same key within the interval does not start it.
      this.averages.set(key, { sum: 0, weight: 0, at });
      return;
    }
    if (avg === undefined) {
      const weight = 1 - Math.exp(-this.minIntervalMs / this.tauMs);
      this.averages.set(key, { sum: weight * value, weight, at });
      return;
    }
    const dt = at - avg.at;
    if (dt < this.minIntervalMs) return;
    avg.at = at;
    if (avg.weight === 0) {
      if (slow) return;
      avg.sum = (1 - Math.exp(-this.minIntervalMs / this.tauMs)) * value;
      avg.weight = 1 - Math.exp(-this.minIntervalMs / this.tauMs);
      return;
    }
    if (slow) {
      // Moves the corrected average itself: folding into sum and weight would let the start-up
      // correction amplify the abnormal values as much as normal ones.
      const current = avg.sum / avg.weight;
      avg.sum = (current + (1 - Math.exp(-dt / this.slowTauMs)) * (value - current)) * avg.weight;
      return;
    }
    const decay = Math.exp(-dt / this.tauMs);
    avg.sum = decay * avg.sum + (1 - decay) * value;
    avg.weight = decay * avg.weight + (1 - decay);
  }

  /** The baseline, or undefined while it is still warming up. */
  get(key: string): number | undefined {
    const avg = this.averages.get(key);
    if (!avg || avg.weight < this.warmWeight) return undefined;
    return avg.sum / avg.weight;
  }

  /**
   * Starts a series from a prior (a configured or yesterday's rate) as if it had just finished
   * its warm-up there: usable at once, and outweighed by an hour of what the series really does.
   * A series already known keeps what it knows.
   */
  seed(key: string, value: number, at: number): boolean {
    if (!Number.isFinite(value) || (this.averages.get(key)?.weight ?? 0) > 0) return false;
    this.averages.set(key, { sum: this.warmWeight * value, weight: this.warmWeight, at });
    return true;
  }

  /** Every series as it stands, to be kept for the next monitor (monitor/src/baseline-memory.ts). */
  snapshot(): BaselineState[] {
    const states: BaselineState[] = [];
    for (const [key, avg] of this.averages) {
      if (avg.weight > 0) states.push({ key, sum: avg.sum, weight: avg.weight, at: avg.at });
    }
    return states;
  }

  /**
   * Continues from series another monitor kept. The weight says how much a baseline has seen: a
   * series this process has seen more of keeps its own, one it has just started (or never seen)
   * takes the kept one. One past `forgetAfterMs` is not taken. Returns how many were taken.
   */
  restore(states: readonly BaselineState[], now: number): number {
    let taken = 0;
    for (const state of states) {
      if (!(state.weight > 0) || !Number.isFinite(state.sum) || state.at < now - this.forgetAfterMs) continue;
      const held = this.averages.get(state.key);
      if (held && held.weight >= state.weight) continue;
      this.averages.set(state.key, { sum: state.sum, weight: Math.min(1, state.weight), at: state.at });
      taken++;
    }
    return taken;
  }

  /** Whether the series has a usable baseline. */
  isWarm(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Series seen but not yet trusted (a gauge and /readyz say how blind the monitor still is). */
  get warming(): number {
    let count = 0;
    for (const avg of this.averages.values()) if (avg.weight < this.warmWeight) count++;
    return count;
  }

  prune(now: number): void {
    for (const [key, avg] of this.averages) {
      if (avg.at < now - this.forgetAfterMs) this.averages.delete(key);
    }
  }
}

/**
 * Upper bound of the Wilson score interval for `successes` of `trials` at `z` (1.96: 95 %): a rate
 * is "below x" only when even its optimistic reading is, so 3 failures out of 20 in a country
 * that usually delivers half its messages do not mark a provider dead.
 */
export function wilsonUpper(successes: number, trials: number, z = 1.96): number {
  if (trials <= 0) return 1;
  const p = successes / trials;
  const z2 = z * z;
  const centre = p + z2 / (2 * trials);
  const margin = z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return Math.min(1, (centre + margin) / (1 + z2 / trials));
}
