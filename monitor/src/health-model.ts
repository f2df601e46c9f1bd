/**
 * Provider health per destination country, from what the traffic shows: the delivered rate and
 * the OTP conversion rate, each against the provider's own baseline there. Submit errors are the
 * breakers' business; this catches the provider that accepts everything and delivers nothing.
 * Pure: samples and time are passed in; what it returns is published as `provider.health`.
 *
 * - A signal is judged on its shortest window (delivered rate: 1, 5, 15 min; conversion: 5, 15
 *   min, as users take a while to type a code) holding `minSamples` trials, against its baseline
 *   over that same window (a 1-minute delivered rate runs lower than a 15-minute one, which had
 *   time for more late receipts). It is degraded when even the optimistic (Wilson) reading of
 *   its rate is below `degradedRatio` × baseline. Health is then the rate ÷ baseline: 41 %
 *   against 96 % gives 0.43.
 * - Health falls at once and recovers by at most `recoveryPerMinute`, so traffic comes back in
 *   steps and a provider that fails again under full load is caught before all of it is there.
 * - Before a baseline has warmed up, absolute floors judge (floors.ts): a provider × country with
 *   enough submissions past the receipt grace and a delivered rate at or near zero, or OTP
 *   conversion at zero with enough codes sent, is unhealthy at once. A prior (a configured or
 *   yesterday's rate, `prior`) lets the baseline judge from the first minute too.
 * - Without enough samples nothing is decided and the last health holds (a degraded provider
 *   gets little traffic, so little evidence); after `staleMs` without any, the model stops
 *   repeating its verdict and the bridges' HealthBoard lets it expire back to healthy.
 */
import { type Baselines, baselineKey, wilsonUpper } from '../../alerting/baseline.ts';
import type { MonitorFloors } from '../../core/config.ts';
import { type ClassCounts, type FloorVerdict, judgeConversionFloor, judgeDeliveredFloor } from './floors.ts';

export const HEALTH_SIGNALS = ['delivered_rate', 'otp_conversion_rate'] as const;
export type HealthSignal = (typeof HEALTH_SIGNALS)[number];

/** Successes out of trials of one signal for one provider and country over one window. */
export interface RateSample {
  provider: string;
  country: string;
  successes: number;
  trials: number;
  /** The same counts per message class, for the floors (absent: all of one unknown class). */
  classes?: Readonly<Record<string, ClassCounts>>;
}

/** Where the model reads its samples (monitor/src/traffic.ts in the monitor). */
export type RateSource = (signal: HealthSignal, windowMs: number) => readonly RateSample[];

export interface HealthVerdict {
  provider: string;
  country: string;
  health: number;
  reason: string;
}

export interface HealthModelOptions {
  baselines: Baselines;
  /** Windows each signal is judged on, shortest first. */
  windowsMs?: Readonly<Record<HealthSignal, readonly number[]>>;
  degradedRatio?: number;
  minSamples?: number;
  /** A baseline below this says the signal is meaningless here (no receipts from this route). */
  minBaseline?: number;
  recoveryPerMinute?: number;
  /** Smallest change worth publishing. */
  publishDelta?: number;
  /** How often a health below 1 is repeated, well inside the HealthBoard's TTL. */
  refreshMs?: number;
  staleMs?: number;
  /** Floors judged while a series has no baseline; absent: none. */
  floors?: MonitorFloors | undefined;
  /** Windows floors are judged on, shortest first: the shortest holding enough samples speaks. */
  floorWindowsMs?: Readonly<Record<HealthSignal, readonly number[]>>;
  /** A rate to start a signal's baseline from where it has none (configured or yesterday's). */
  prior?: ((signal: HealthSignal, provider: string, country: string) => number | undefined) | undefined;
}

/** A provider × country's standing against a floor, while no baseline judges it. */
export interface FloorStanding {
  provider: string;
  country: string;
  signal: HealthSignal;
  below: boolean;
  /** The window that showed it. */
  windowMs: number;
  at: number;
}

interface Judgement {
  signal: HealthSignal;
  rate: number;
  /** Undefined: judged by a floor. */
  baseline: number | undefined;
  trials: number;
  windowMs: number;
  degraded: boolean;
}

interface ProviderCountry {
  provider: string;
  country: string;
  health: number;
  reason: string;
  degraded: Set<HealthSignal>;
  /** Last time any signal had enough samples to judge. */
  evidenceAt: number;
  updatedAt: number;
  published: { health: number; at: number } | undefined;
}

export class HealthModel {
  private readonly baselines: Baselines;
  private readonly windowsMs: Readonly<Record<HealthSignal, readonly number[]>>;
  private readonly degradedRatio: number;
  private readonly minSamples: number;
  private readonly minBaseline: number;
  private readonly recoveryPerMinute: number;
  private readonly publishDelta: number;
  private readonly refreshMs: number;
  private readonly staleMs: number;
  private readonly floors: MonitorFloors | undefined;
  private readonly floorWindowsMs: Readonly<Record<HealthSignal, readonly number[]>>;
  private readonly prior: HealthModelOptions['prior'];
  private readonly states = new Map<string, ProviderCountry>();
  private readonly floorStandings = new Map<string, FloorStanding>();
  /** Provider × country carrying traffic that neither a baseline nor a floor judges: since when. */
  private readonly blindSince = new Map<string, { provider: string; country: string; since: number }>();

  constructor(options: HealthModelOptions) {
    this.baselines = options.baselines;
    this.windowsMs = options.windowsMs ?? DEFAULT_WINDOWS;
    this.degradedRatio = options.degradedRatio ?? 0.6;
    this.minSamples = options.minSamples ?? 20;
    this.minBaseline = options.minBaseline ?? 0.2;
    this.recoveryPerMinute = options.recoveryPerMinute ?? 0.1;
    this.publishDelta = options.publishDelta ?? 0.05;
    this.refreshMs = options.refreshMs ?? 60_000;
    this.staleMs = options.staleMs ?? 30 * 60_000;
    this.floors = options.floors;
    this.floorWindowsMs = options.floorWindowsMs ?? DEFAULT_FLOOR_WINDOWS;
    this.prior = options.prior;
  }

  /**
   * Starts from a verdict already in force (the compacted `provider.health` topic, after a restart
   * or a change of leader), so a recovery in progress continues rather than jumping to 1.
   */
  seed(provider: string, country: string, health: number, at: number): void {
    const key = `${provider}\u0000${country}`;
    if (this.states.has(key) || health >= 1) return;
    this.states.set(key, {
      provider,
      country,
      health,
      reason: 'continued from the last published verdict',
      degraded: new Set(),
      evidenceAt: at,
      updatedAt: at,
      published: { health, at },
    });
  }

  /**
   * Forgets what was published, so the next update repeats every verdict below 1: a monitor that
   * just became the one publishing cannot know what its predecessor last said.
   */
  republish(): void {
    for (const state of this.states.values()) state.published = undefined;
  }

  /** One evaluation: judges every provider and country with samples; returns the verdicts to publish. */
  update(source: RateSource, now: number): HealthVerdict[] {
    const judgements = new Map<string, Judgement[]>();
    const carrying = new Set<string>();
    const covered = new Set<string>();
    for (const signal of HEALTH_SIGNALS) {
      const windows = [...new Set([...this.windowsMs[signal], ...this.floorWindowsMs[signal]])].sort(
        (a, b) => a - b,
      );
      const byWindow = windows.map((w) => ({ windowMs: w, samples: index(source(signal, w)) }));
      const keys = new Set<string>();
      for (const { samples } of byWindow) for (const key of samples.keys()) keys.add(key);
      for (const key of keys) {
        const labels = splitKey(key);
        const degradedBefore = this.states.get(key)?.degraded.has(signal) ?? false;
        const standingKey = `${key}\u0000${signal}`;
        const previous = this.floorStandings.get(standingKey);
        const floor = this.floorOver(signal, key, byWindow, previous);
        if (
          signal === 'delivered_rate' &&
          byWindow.some(({ samples }) => (samples.get(key)?.trials ?? 0) > 0)
        ) {
          carrying.add(key);
        }
        let judgement: Judgement | undefined;
        let warm = false;
        for (const { windowMs, samples } of byWindow) {
          if (!this.windowsMs[signal].includes(windowMs)) continue;
          const sample = samples.get(key);
          if (!sample || sample.trials < this.minSamples) continue;
          const bKey = baselineKey(signal, labels, windowMs);
          // Judged against the baseline as it was before this observation, which it then moves
          // (slowly while degraded).
          let baseline = this.baselines.get(bKey);
          if (baseline === undefined) {
            const prior = this.prior?.(signal, labels.provider, labels.country);
            if (prior !== undefined && this.baselines.seed(bKey, prior, now))
              baseline = this.baselines.get(bKey);
          }
          if (baseline !== undefined) warm = true;
          const rate = sample.successes / sample.trials;
          if (!judgement && baseline !== undefined && baseline >= this.minBaseline) {
            judgement = {
              signal,
              rate,
              baseline,
              trials: sample.trials,
              windowMs,
              degraded: wilsonUpper(sample.successes, sample.trials) < this.degradedRatio * baseline,
            };
          }
          this.baselines.observe(bKey, rate, now, judgement?.degraded ?? (floor?.below || degradedBefore));
        }
        if (warm) {
          // A baseline, even one saying the signal means nothing here, speaks instead of the floor.
          this.floorStandings.delete(standingKey);
          covered.add(key);
        } else if (floor) {
          this.floorStandings.set(standingKey, {
            ...labels,
            signal,
            below: floor.below,
            windowMs: floor.windowMs,
            at: now,
          });
          covered.add(key);
          judgement = {
            signal,
            rate: floor.trials > 0 ? floor.successes / floor.trials : 0,
            baseline: undefined,
            trials: floor.trials,
            windowMs: floor.windowMs,
            degraded: floor.below,
          };
        } else if (previous) {
          covered.add(key); // the last floor verdict holds, as health does, until evidence or staleness
        }
        if (!judgement) continue;
        const list = judgements.get(key);
        if (list) list.push(judgement);
        else judgements.set(key, [judgement]);
      }
    }
    this.trackBlindness(carrying, covered, now);

    for (const [key, list] of judgements) {
      let state = this.states.get(key);
      if (!state) {
        const { provider, country } = splitKey(key);
        state = {
          provider,
          country,
          health: 1,
          reason: 'healthy',
          degraded: new Set(),
          evidenceAt: now,
          updatedAt: now,
          published: undefined,
        };
        this.states.set(key, state);
      }
      const worst = list.reduce((a, b) => (targetOf(b) < targetOf(a) ? b : a));
      const target = targetOf(worst);
      const minutes = Math.max(0, now - state.updatedAt) / 60_000;
      state.health =
        target <= state.health ? target : Math.min(target, state.health + this.recoveryPerMinute * minutes);
      state.degraded = new Set(list.filter((j) => j.degraded).map((j) => j.signal));
      state.reason = describe(worst, state.health, target);
      state.evidenceAt = now;
      state.updatedAt = now;
    }

    const verdicts: HealthVerdict[] = [];
    for (const [key, state] of this.states) {
      if (now - state.evidenceAt > this.staleMs) {
        this.states.delete(key);
        continue;
      }
      if (!judgements.has(key)) state.updatedAt = now; // held: no recovery without evidence
      if (this.shouldPublish(state, now)) {
        state.published = { health: state.health, at: now };
        verdicts.push({
          provider: state.provider,
          country: state.country,
          health: Math.floor(state.health * 1000) / 1000,
          reason: state.reason,
        });
      }
      if (state.health >= 1 && state.degraded.size === 0 && (state.published?.health ?? 1) === 1) {
        this.states.delete(key); // healthy and said so: nothing to remember
      }
    }
    return verdicts;
  }

  /** The current health of every provider and country the model has an opinion on. */
  snapshot(): Array<{ provider: string; country: string; health: number; degraded: HealthSignal[] }> {
    return [...this.states.values()].map((s) => ({
      provider: s.provider,
      country: s.country,
      health: s.health,
      degraded: [...s.degraded],
    }));
  }

  /** Where floors judge a provider × country (no baseline yet), and whether it is below. */
  floorStandingsNow(now: number): FloorStanding[] {
    for (const [key, standing] of this.floorStandings) {
      if (now - standing.at > this.staleMs) this.floorStandings.delete(key);
    }
    return [...this.floorStandings.values()];
  }

  /** Provider × country carrying traffic that neither a baseline nor a floor can judge, and for how long. */
  blind(now: number): Array<{ provider: string; country: string; seconds: number }> {
    return [...this.blindSince.values()].map((b) => ({
      provider: b.provider,
      country: b.country,
      seconds: Math.max(0, now - b.since) / 1000,
    }));
  }

  /**
   * The floor's verdict from the shortest floor window with enough samples. Below the floor is
   * only lifted by evidence as recent as what showed it: a provider marked dead gets little
   * traffic, and a longer window still holds its deliveries from before.
   */
  private floorOver(
    signal: HealthSignal,
    key: string,
    byWindow: ReadonlyArray<{ windowMs: number; samples: ReadonlyMap<string, RateSample> }>,
    previous: FloorStanding | undefined,
  ): (FloorVerdict & { windowMs: number }) | undefined {
    const longest = previous?.below ? previous.windowMs : Number.POSITIVE_INFINITY;
    for (const { windowMs, samples } of byWindow) {
      const sample = samples.get(key);
      if (!sample || windowMs > longest || !this.floorWindowsMs[signal].includes(windowMs)) continue;
      const verdict = this.judgeFloor(signal, sample);
      if (verdict?.eligible) return { ...verdict, windowMs };
    }
    return undefined;
  }

  private judgeFloor(signal: HealthSignal, sample: RateSample): FloorVerdict | undefined {
    if (!this.floors) return undefined;
    if (signal === 'otp_conversion_rate') return judgeConversionFloor(this.floors, sample);
    return judgeDeliveredFloor(
      this.floors,
      sample.classes ?? { unknown: { successes: sample.successes, trials: sample.trials } },
    );
  }

  private trackBlindness(carrying: ReadonlySet<string>, covered: ReadonlySet<string>, now: number): void {
    for (const key of this.blindSince.keys()) {
      if (!carrying.has(key) || covered.has(key)) this.blindSince.delete(key);
    }
    for (const key of carrying) {
      if (!covered.has(key) && !this.blindSince.has(key))
        this.blindSince.set(key, { ...splitKey(key), since: now });
    }
  }

  private shouldPublish(state: ProviderCountry, now: number): boolean {
    const last = state.published;
    if (last === undefined) return state.health < 1;
    if (state.health >= 1) return last.health < 1;
    return Math.abs(state.health - last.health) >= this.publishDelta || now - last.at >= this.refreshMs;
  }
}

const DEFAULT_WINDOWS: Record<HealthSignal, readonly number[]> = {
  delivered_rate: [60_000, 300_000, 900_000],
  otp_conversion_rate: [300_000, 900_000],
};

/**
 * Floors look at 30 s of due messages first: "delivers nothing" needs the whole window silent,
 * so the shorter it is the sooner a provider that just stopped is caught; the longer windows
 * serve routes with little traffic.
 */
const DEFAULT_FLOOR_WINDOWS: Record<HealthSignal, readonly number[]> = {
  delivered_rate: [30_000, 60_000, 300_000, 900_000],
  otp_conversion_rate: [300_000, 900_000],
};

function targetOf(j: Judgement): number {
  if (!j.degraded) return 1;
  return j.baseline === undefined ? Math.min(1, j.rate) : Math.min(1, Math.max(0, j.rate / j.baseline));
}

function describe(j: Judgement, health: number, target: number): string {
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  const signal = j.signal === 'delivered_rate' ? 'delivered rate' : 'OTP conversion';
  const against =
    j.baseline === undefined ? 'the floor, no baseline yet' : `a baseline of ${pct(j.baseline)}`;
  const what = `${signal} ${pct(j.rate)} against ${against} (${j.windowMs / 60_000} min, ${j.trials} messages)`;
  if (j.degraded) return `degraded: ${what}`;
  return health < target ? `recovering: ${what}` : `healthy: ${what}`;
}

function index(samples: readonly RateSample[]): Map<string, RateSample> {
  const map = new Map<string, RateSample>();
  for (const s of samples) map.set(`${s.provider}\u0000${s.country}`, s);
  return map;
}

function splitKey(key: string): { provider: string; country: string } {
  const [provider = '', country = ''] = key.split('\u0000');
  return { provider, country };
}
