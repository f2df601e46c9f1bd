/**
 * Synthetic canaries: a probe message every few minutes through each configured provider to a
 * test number in each configured country, timed from publish to delivered receipt, so a dead
 * route is found before a customer finds it — including a backup route no traffic takes.
 *
 * A probe is an ordinary `message.requested` on its class's lane, like the API publishes, with
 * tenant `pigeon-canary` (so every event about it is recognisable and kept out of the customer
 * traffic's figures) and `provider` set: the bridge sends it through that provider only, whatever
 * its health, and never fails it over. It expires after the probe timeout, so a probe that could
 * not be sent in time is failed by the bridge rather than delivered late. Pure apart from the
 * injected publish; clock injected.
 */
import { buildMessageRequested } from '../../core/message-request.ts';
import { newId } from '../../core/ids.ts';
import type { MessageRequested } from '../../core/message.ts';
import type { CanaryTarget } from '../../alerting/config.ts';
import { SlidingWindows } from './windows.ts';

export const CANARY_TENANT = 'pigeon-canary';

export interface CanaryOptions {
  targets: readonly CanaryTarget[];
  /** Between two probes of one target. Default 5 min. */
  intervalMs?: number;
  /** A probe without a delivered receipt by then failed. Default 2 min. */
  timeoutMs?: number;
  /** `transactional` (normal lane, default) or `otp` (high lane). */
  messageClass?: 'transactional' | 'otp';
  publish: (message: MessageRequested) => Promise<void>;
  now?: () => number;
}

export type ProbeResult = 'delivered' | 'undelivered' | 'failed' | 'timeout';

interface Probe {
  target: CanaryTarget;
  sentAt: number;
  submittedAt?: number;
}

export class Canary {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  private readonly options: CanaryOptions;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, Probe>();
  private readonly lastSent = new Map<string, number>();
  private readonly windows: SlidingWindows<'delivered' | 'failed', 'latency'>;
  /** Results so far, for the caller's counters. */
  readonly onResult: Array<(target: CanaryTarget, result: ProbeResult, latencyMs?: number) => void> = [];

  constructor(options: CanaryOptions) {
    this.options = options;
    this.intervalMs = options.intervalMs ?? 5 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 2 * 60_000;
    this.now = options.now ?? Date.now;
    this.windows = new SlidingWindows({
      counters: ['delivered', 'failed'],
      histograms: ['latency'],
      bucketMs: 60_000,
      horizonMs: 20 * 60_000,
      now: this.now,
    });
  }

  /** Sends the probes that are due and fails the ones that timed out. */
  async tick(): Promise<void> {
    const now = this.now();
    for (const [id, probe] of this.inFlight) {
      if (now - probe.sentAt >= this.timeoutMs) this.finish(id, 'timeout');
    }
    const due = this.options.targets.filter(
      (t) => now - (this.lastSent.get(targetKey(t)) ?? Number.NEGATIVE_INFINITY) >= this.intervalMs,
    );
    await Promise.all(due.map((target) => this.probe(target, now)));
  }

  /** Whether a message belongs to a probe (by its tenant). */
  static isProbe(tenantId: string): boolean {
    return tenantId === CANARY_TENANT;
  }

  submitted(messageId: string, at: number): void {
    const probe = this.inFlight.get(messageId);
    if (probe) probe.submittedAt = at;
  }

  /** The bridge gave a probe up (refused, expired, nobody took it). */
  failed(messageId: string): void {
    this.finish(messageId, 'failed');
  }

  receipt(messageId: string, status: string, at: number): void {
    if (status === 'delivered') this.finish(messageId, 'delivered', at);
    else if (status !== 'unknown') this.finish(messageId, 'undelivered');
  }

  /** Success rate and latency per provider and country over the window (finished probes only). */
  series(windowMs: number): Array<{
    provider: string;
    country: string;
    finished: number;
    successRate: number | undefined;
    latencyP95Seconds: number | undefined;
  }> {
    const now = this.now();
    return this.options.targets
      .filter((t, i, all) => all.findIndex((o) => targetKey(o) === targetKey(t)) === i)
      .map((t) => {
        const key = targetKey(t);
        const delivered = this.windows.sum(key, 'delivered', windowMs, now);
        const finished = delivered + this.windows.sum(key, 'failed', windowMs, now);
        const bins = this.windows.emptyBins();
        this.windows.collectBins(key, 'latency', windowMs, now, bins);
        const p95 = this.windows.quantile(bins, 0.95);
        return {
          provider: t.provider,
          country: t.country,
          finished,
          successRate: finished > 0 ? delivered / finished : undefined,
          latencyP95Seconds: p95 === undefined ? undefined : p95 / 1000,
        };
      });
  }

  get pending(): number {
    return this.inFlight.size;
  }

  private async probe(target: CanaryTarget, now: number): Promise<void> {
    this.lastSent.set(targetKey(target), now);
    const messageId = newId(now);
    const message = buildMessageRequested(
      {
        to: target.to,
        body: `Pigeon canary ${messageId} via ${target.provider}`,
        class: this.options.messageClass ?? 'transactional',
        ttlSeconds: Math.max(1, Math.floor(this.timeoutMs / 1000)),
      },
      { tenantId: CANARY_TENANT, messageId, now, publishTimeoutMs: 60_000 },
    );
    message.provider = target.provider;
    this.inFlight.set(messageId, { target, sentAt: now });
    try {
      await this.options.publish(message);
    } catch {
      // Not sent at all says nothing about the provider; the bus outage is alerted on its own.
      this.inFlight.delete(messageId);
      this.lastSent.delete(targetKey(target));
    }
  }

  private finish(messageId: string, result: ProbeResult, at?: number): void {
    const probe = this.inFlight.get(messageId);
    if (!probe) return;
    this.inFlight.delete(messageId);
    const key = targetKey(probe.target);
    const now = this.now();
    let latencyMs: number | undefined;
    if (result === 'delivered') {
      latencyMs = Math.max(0, (at ?? now) - probe.sentAt);
      this.windows.add(key, 'delivered', 1, now);
      this.windows.observe(key, 'latency', latencyMs, now);
    } else {
      this.windows.add(key, 'failed', 1, now);
    }
    for (const listener of this.onResult) listener(probe.target, result, latencyMs);
  }
}

function targetKey(t: Pick<CanaryTarget, 'provider' | 'country'>): string {
  return `${t.provider}\u0000${t.country}`;
}
