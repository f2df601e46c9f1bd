/**
 * What the monitor knows of live traffic, per provider × destination country × message class, in
 * sliding windows: submits and submit failures, submit latency, delivery receipts joined to their
 * submission, receipt lag, and OTP sends and approvals. Pure: fed with events, clock injected.
 *
 * The delivered rate is counted by cohort: a receipt is credited to the bucket its message was
 * submitted in, and a window only covers submissions older than the receipt grace. A message
 * with no receipt after the grace counts as not delivered — which is exactly how a provider that
 * accepts everything and delivers nothing shows — and a receipt that comes later still lifts its
 * cohort, so longer windows converge on the true rate.
 */
import { AgeSweep } from './age-sweep.ts';
import { SlidingWindows } from './windows.ts';

export const TRAFFIC_LABELS = ['provider', 'country', 'class'] as const;
export type TrafficLabel = (typeof TRAFFIC_LABELS)[number];
export type TrafficLabels = Record<TrafficLabel, string>;

const COUNTERS = [
  'submitted',
  'submitFailed',
  'delivered',
  'undelivered',
  'unobserved',
  'otpSent',
  'otpApproved',
] as const;
type Counter = (typeof COUNTERS)[number];
const HISTOGRAMS = ['submitLatency', 'receiptLag'] as const;

/** Error classes that say something about the provider (the others are about the message). */
const PROVIDER_FAULTS = new Set(['retryable', 'throttled', 'ambiguous']);
/** Receipt statuses that end a message's delivery; `unknown` is an intermediate report. */
const FINAL_RECEIPTS = new Set(['delivered', 'undelivered', 'expired', 'rejected']);

export const UNKNOWN = 'unknown';

export interface TrafficOptions {
  /** How long a submission waits for its receipt before it counts in the delivered rate. Default 30 s. */
  receiptGraceMs?: number;
  bucketMs?: number;
  /** How long submissions wait for a late receipt, and the longest window. Default 20 min. */
  horizonMs?: number;
  /** Most submissions waiting for a receipt; the oldest are forgotten first. Default 500,000. */
  maxTracked?: number;
  now?: () => number;
}

export interface TrafficStats {
  submitted: number;
  submitFailed: number;
  /** submitted ÷ (submitted + provider-fault failures); undefined without either. */
  submitSuccessRate: number | undefined;
  submitLatencyP50Seconds: number | undefined;
  submitLatencyP95Seconds: number | undefined;
  /** Submissions old enough to judge, less those whose receipt was sampled out. */
  matured: number;
  delivered: number;
  deliveredRate: number | undefined;
  receiptLagP95Seconds: number | undefined;
  otpSent: number;
  otpApproved: number;
  conversionRate: number | undefined;
}

export interface TrafficSeries {
  labels: Partial<TrafficLabels>;
  stats: TrafficStats;
}

interface Tracked {
  key: string;
  provider: string;
  submittedAt: number;
}

/** Tells which bucket and labels a submission belongs to. */
export function trafficKey(labels: TrafficLabels): string {
  return `${labels.provider}\u0000${labels.country}\u0000${labels.class}`;
}

export class Traffic {
  readonly receiptGraceMs: number;
  private readonly windows: SlidingWindows<Counter, (typeof HISTOGRAMS)[number]>;
  private readonly maxTracked: number;
  private readonly now: () => number;
  /** messageId → its submissions still waiting for a receipt (a failover copy makes two). */
  private readonly waiting = new Map<string, Tracked[]>();
  /** Receipts that overtook their submission (different topics): applied when it arrives. */
  private readonly early = new Map<string, { provider: string; status: string; at: number }>();
  private readonly labelsOf = new Map<string, TrafficLabels>();
  evicted = 0;
  private readonly sweep = new AgeSweep();

  constructor(options: TrafficOptions = {}) {
    this.receiptGraceMs = options.receiptGraceMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.maxTracked = options.maxTracked ?? 500_000;
    this.windows = new SlidingWindows({
      counters: COUNTERS,
      histograms: HISTOGRAMS,
      bucketMs: options.bucketMs ?? 10_000,
      horizonMs: options.horizonMs ?? 20 * 60_000,
      now: this.now,
    });
  }

  /** The bridge handed a message to a provider (message.submitted). */
  submitted(event: {
    messageId: string;
    provider: string;
    country?: string | undefined;
    class?: string | undefined;
    latencyMs: number;
    at: number;
  }): void {
    const key = this.keyOf(event.provider, event.country, event.class);
    this.windows.add(key, 'submitted', 1, event.at);
    this.windows.observe(key, 'submitLatency', event.latencyMs, event.at);
    const early = this.early.get(event.messageId);
    if (early !== undefined && early.provider === event.provider) {
      this.early.delete(event.messageId);
      this.settle({ key, provider: event.provider, submittedAt: event.at }, early.status, early.at);
      return;
    }
    const copies = this.waiting.get(event.messageId);
    if (copies?.some((t) => t.provider === event.provider)) return;
    const tracked = { key, provider: event.provider, submittedAt: event.at };
    if (copies) copies.push(tracked);
    else this.waiting.set(event.messageId, [tracked]);
    this.forgetOld();
  }

  /** A pass over a message ended without a provider taking it (message.failed). */
  failed(event: {
    provider?: string | undefined;
    country?: string | undefined;
    class?: string | undefined;
    errorClass: string;
    at: number;
  }): void {
    if (event.provider === undefined || !PROVIDER_FAULTS.has(event.errorClass)) return;
    this.windows.add(this.keyOf(event.provider, event.country, event.class), 'submitFailed', 1, event.at);
  }

  /**
   * A delivery receipt (receipt.received). Returns the labels of the submission it settled, or
   * undefined for an intermediate status or a message not seen submitted (yet).
   */
  receipt(event: {
    messageId: string;
    provider: string;
    status: string;
    at: number;
  }): TrafficLabels | undefined {
    if (!FINAL_RECEIPTS.has(event.status)) return undefined;
    const copies = this.waiting.get(event.messageId);
    const index = copies?.findIndex((t) => t.provider === event.provider) ?? -1;
    if (!copies || index < 0) {
      if (this.early.size < 20_000) this.early.set(event.messageId, { ...event });
      return undefined;
    }
    const [tracked] = copies.splice(index, 1);
    if (copies.length === 0) this.waiting.delete(event.messageId);
    this.settle(tracked!, event.status, event.at);
    return this.labelsOf.get(tracked!.key);
  }

  /**
   * A receipt that was counted but not read (peak protection): its message leaves the delivered
   * rate's books entirely, so sampling never biases the rate. Returns whether it was known.
   */
  unobserved(messageId: string): boolean {
    const copies = this.waiting.get(messageId);
    const tracked = copies?.pop();
    if (!tracked) return false;
    if (copies!.length === 0) this.waiting.delete(messageId);
    this.windows.add(tracked.key, 'unobserved', 1, tracked.submittedAt);
    return true;
  }

  /** The class of a message waiting for its receipt, without reading the receipt. */
  classOf(messageId: string): string | undefined {
    const tracked = this.waiting.get(messageId)?.at(-1);
    return tracked && this.labelsOf.get(tracked.key)?.class;
  }

  /** A verification code went out through this provider (joined by OtpConversion). */
  otpSent(where: { provider: string; country: string }, at = this.now()): void {
    this.windows.add(this.keyOf(where.provider, where.country, 'otp'), 'otpSent', 1, at);
  }

  otpApproved(where: { provider: string; country: string }, at = this.now()): void {
    this.windows.add(this.keyOf(where.provider, where.country, 'otp'), 'otpApproved', 1, at);
  }

  /**
   * Statistics over the last `windowMs`, for the series matching `match`, one per distinct value
   * of the `by` labels (an empty `by`: one series for everything matched).
   */
  series(windowMs: number, by: readonly TrafficLabel[], match: Partial<TrafficLabels> = {}): TrafficSeries[] {
    const now = this.now();
    const matureEnd = now - this.receiptGraceMs;
    const groups = new Map<string, { labels: Partial<TrafficLabels>; keys: string[] }>();
    for (const key of this.windows.keys()) {
      const labels = this.labelsOf.get(key)!;
      if (!matches(labels, match)) continue;
      const groupLabels: Partial<TrafficLabels> = {};
      for (const l of by) groupLabels[l] = labels[l];
      const groupKey = by.map((l) => labels[l]).join('\u0000');
      let group = groups.get(groupKey);
      if (!group) {
        group = { labels: groupLabels, keys: [] };
        groups.set(groupKey, group);
      }
      group.keys.push(key);
    }
    const result: TrafficSeries[] = [];
    for (const { labels, keys } of groups.values()) {
      const sum = (counter: Counter, end = now) =>
        keys.reduce((total, key) => total + this.windows.sum(key, counter, windowMs, end), 0);
      const latency = this.windows.emptyBins();
      const lag = this.windows.emptyBins();
      for (const key of keys) {
        this.windows.collectBins(key, 'submitLatency', windowMs, now, latency);
        this.windows.collectBins(key, 'receiptLag', windowMs, now, lag);
      }
      const submitted = sum('submitted');
      const submitFailed = sum('submitFailed');
      const matured = sum('submitted', matureEnd) - sum('unobserved', matureEnd);
      const delivered = sum('delivered', matureEnd);
      const otpSent = sum('otpSent');
      const otpApproved = sum('otpApproved');
      const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
      result.push({
        labels,
        stats: {
          submitted,
          submitFailed,
          submitSuccessRate: ratio(submitted, submitted + submitFailed),
          submitLatencyP50Seconds: seconds(this.windows.quantile(latency, 0.5)),
          submitLatencyP95Seconds: seconds(this.windows.quantile(latency, 0.95)),
          matured,
          delivered,
          deliveredRate: ratio(delivered, matured),
          receiptLagP95Seconds: seconds(this.windows.quantile(lag, 0.95)),
          otpSent,
          otpApproved,
          // Approvals of codes sent just before the window opened can push it over 1.
          conversionRate: otpSent > 0 ? Math.min(1, otpApproved / otpSent) : undefined,
        },
      });
    }
    return result;
  }

  /** Submissions waiting for a receipt (for a gauge). */
  get tracked(): number {
    return this.waiting.size;
  }

  /** Forgets what is past the horizon: keys gone quiet, receipts that never found a submission. */
  prune(): void {
    const now = this.now();
    this.windows.prune(now);
    for (const key of this.labelsOf.keys()) {
      if (!this.windows.has(key)) this.labelsOf.delete(key);
    }
    for (const [id, early] of this.early) {
      if (early.at >= now - 120_000) break;
      this.early.delete(id);
    }
  }

  private settle(tracked: Tracked, status: string, at: number): void {
    const delivered = status === 'delivered';
    this.windows.add(tracked.key, delivered ? 'delivered' : 'undelivered', 1, tracked.submittedAt);
    if (delivered) this.windows.observe(tracked.key, 'receiptLag', Math.max(0, at - tracked.submittedAt), at);
  }

  private keyOf(provider: string, country: string | undefined, messageClass: string | undefined): string {
    const labels = { provider, country: country ?? UNKNOWN, class: messageClass ?? UNKNOWN };
    const key = trafficKey(labels);
    if (!this.labelsOf.has(key)) this.labelsOf.set(key, labels);
    return key;
  }

  /** Insertion order is submission order: the oldest waiting messages are at the front. */
  private forgetOld(): void {
    const oldest = this.now() - this.windows.horizonMs;
    this.evicted += this.sweep.run(this.waiting, this.now(), this.maxTracked, (copies) => {
      const first = copies[0];
      return first === undefined || first.submittedAt < oldest;
    });
  }
}

function matches(labels: TrafficLabels, match: Partial<TrafficLabels>): boolean {
  for (const l of TRAFFIC_LABELS) {
    const want = match[l];
    if (want !== undefined && want !== '*' && labels[l] !== want) return false;
  }
  return true;
}

function ratio(part: number, whole: number): number | undefined {
  return whole > 0 ? Math.min(1, Math.max(0, part / whole)) : undefined;
}
