/**
 * Sliding time windows per key: a ring of fixed-width time buckets holding counters and latency
 * histograms, so "the last 1, 5 or 15 minutes" of anything is a sum over buckets, and memory per
 * key is fixed whatever the traffic. Pure: time is passed in or read from the injected clock.
 *
 * A write may land in a past bucket (a receipt counts towards the minute its message was
 * submitted in) as long as that bucket is still inside the horizon; older writes are dropped.
 */

/** Upper bounds (ms) of the latency histogram bins; the last bin is open-ended. */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  10, 25, 50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000,
  1_800_000,
];

export interface WindowsOptions<C extends string, H extends string> {
  counters: readonly C[];
  histograms?: readonly H[];
  /** Width of one bucket. Default 10 s. */
  bucketMs?: number;
  /** How far back buckets are kept. Default 20 min. */
  horizonMs?: number;
  boundsMs?: readonly number[];
  now?: () => number;
}

interface Ring {
  /** Start time of the bucket each slot holds (NaN: empty). */
  stamps: Float64Array;
  counts: Float64Array;
  bins: Uint32Array;
  /** Last write, to forget keys that went quiet. */
  touchedAt: number;
}

export class SlidingWindows<C extends string, H extends string = never> {
  readonly bucketMs: number;
  readonly horizonMs: number;
  private readonly slots: number;
  private readonly counterIndex: Map<C, number>;
  private readonly histogramIndex: Map<H, number>;
  private readonly bounds: readonly number[];
  private readonly binCount: number;
  private readonly now: () => number;
  private readonly rings = new Map<string, Ring>();

  constructor(options: WindowsOptions<C, H>) {
    this.bucketMs = options.bucketMs ?? 10_000;
    this.horizonMs = options.horizonMs ?? 20 * 60_000;
    this.slots = Math.ceil(this.horizonMs / this.bucketMs) + 1;
    this.counterIndex = new Map(options.counters.map((c, i) => [c, i]));
    this.histogramIndex = new Map((options.histograms ?? []).map((h, i) => [h, i]));
    this.bounds = options.boundsMs ?? LATENCY_BOUNDS_MS;
    this.binCount = this.bounds.length + 1;
    this.now = options.now ?? Date.now;
  }

  /** Adds `n` to a counter of `key` in the bucket holding time `at` (default now). */
  add(key: string, counter: C, n = 1, at = this.now()): void {
    const slot = this.slotFor(key, at);
    if (slot === undefined) return;
    slot.ring.counts[slot.index * this.counterIndex.size + this.counterIndex.get(counter)!]! += n;
  }

  /** Records one latency observation (ms) in a histogram of `key`. */
  observe(key: string, histogram: H, valueMs: number, at = this.now()): void {
    const slot = this.slotFor(key, at);
    if (slot === undefined) return;
    const base =
      (slot.index * this.histogramIndex.size + this.histogramIndex.get(histogram)!) * this.binCount;
    slot.ring.bins[base + this.binOf(valueMs)]!++;
  }

  /** Sum of a counter over the `windowMs` of buckets up to the one holding `endAt` (default now). */
  sum(key: string, counter: C, windowMs: number, endAt = this.now()): number {
    const ring = this.rings.get(key);
    if (!ring) return 0;
    const offset = this.counterIndex.get(counter)!;
    let total = 0;
    for (const index of this.slotsIn(ring, windowMs, endAt)) {
      total += ring.counts[index * this.counterIndex.size + offset]!;
    }
    return total;
  }

  /** Adds the histogram's bin counts over the window into `into` (length `binCount`). */
  collectBins(key: string, histogram: H, windowMs: number, endAt: number, into: Float64Array): void {
    const ring = this.rings.get(key);
    if (!ring) return;
    const offset = this.histogramIndex.get(histogram)!;
    for (const index of this.slotsIn(ring, windowMs, endAt)) {
      const base = (index * this.histogramIndex.size + offset) * this.binCount;
      for (let b = 0; b < this.binCount; b++) into[b]! += ring.bins[base + b]!;
    }
  }

  /** A fresh, empty bin array for collectBins. */
  emptyBins(): Float64Array {
    return new Float64Array(this.binCount);
  }

  /** The q-quantile (0..1) in ms of collected bins, interpolated within its bin; undefined when empty. */
  quantile(bins: Float64Array, q: number): number | undefined {
    return quantileOf(bins, this.bounds, q);
  }

  has(key: string): boolean {
    return this.rings.has(key);
  }

  keys(): IterableIterator<string> {
    return this.rings.keys();
  }

  /** Forgets keys with no write inside the horizon. */
  prune(now = this.now()): void {
    for (const [key, ring] of this.rings) {
      if (ring.touchedAt < now - this.horizonMs) this.rings.delete(key);
    }
  }

  private slotFor(key: string, at: number): { ring: Ring; index: number } | undefined {
    const now = this.now();
    const start = this.bucketStart(at);
    if (start <= now - this.horizonMs - this.bucketMs) return undefined;
    let ring = this.rings.get(key);
    if (!ring) {
      ring = {
        stamps: new Float64Array(this.slots).fill(Number.NaN),
        counts: new Float64Array(this.slots * this.counterIndex.size),
        bins: new Uint32Array(this.slots * this.histogramIndex.size * this.binCount),
        touchedAt: now,
      };
      this.rings.set(key, ring);
    }
    ring.touchedAt = Math.max(ring.touchedAt, now);
    const index = this.indexOf(start);
    if (ring.stamps[index] !== start) {
      // The slot still holds a bucket one full turn older (or newer, for a very late write that
      // must then be dropped): only a newer bucket may take a slot over.
      if (ring.stamps[index]! > start) return undefined;
      ring.stamps[index] = start;
      ring.counts.fill(0, index * this.counterIndex.size, (index + 1) * this.counterIndex.size);
      const per = this.histogramIndex.size * this.binCount;
      ring.bins.fill(0, index * per, (index + 1) * per);
    }
    return { ring, index };
  }

  private *slotsIn(ring: Ring, windowMs: number, endAt: number): Generator<number> {
    const last = this.bucketStart(endAt);
    const count = Math.max(1, Math.ceil(windowMs / this.bucketMs));
    for (let i = 0; i < Math.min(count, this.slots); i++) {
      const start = last - i * this.bucketMs;
      const index = this.indexOf(start);
      if (ring.stamps[index] === start) yield index;
    }
  }

  private bucketStart(at: number): number {
    return Math.floor(at / this.bucketMs) * this.bucketMs;
  }

  private indexOf(start: number): number {
    const n = Math.floor(start / this.bucketMs) % this.slots;
    return n < 0 ? n + this.slots : n;
  }

  private binOf(valueMs: number): number {
    let lo = 0;
    let hi = this.bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (valueMs <= this.bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** The q-quantile in ms of histogram bins with these upper bounds; undefined when there is no observation. */
export function quantileOf(bins: Float64Array, bounds: readonly number[], q: number): number | undefined {
  let total = 0;
  for (const n of bins) total += n;
  if (total === 0) return undefined;
  const rank = Math.min(1, Math.max(0, q)) * total;
  let seen = 0;
  for (let b = 0; b < bins.length; b++) {
    const n = bins[b]!;
    if (n === 0) continue;
    if (seen + n >= rank) {
      const lower = b === 0 ? 0 : bounds[b - 1]!;
      // The open-ended last bin has no upper bound to interpolate towards: report its floor.
      if (b >= bounds.length) return lower;
      const upper = bounds[b]!;
      return lower + ((rank - seen) / n) * (upper - lower);
    }
    seen += n;
  }
  return bounds[bounds.length - 1];
}
