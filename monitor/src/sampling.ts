import { fnv1a } from '../../core/hash.ts';
/**
 * Peak protection for receipts. A receipt storm (a bulk campaign's receipts all arriving within
 * minutes) must not put the monitor minutes behind on the receipts that matter: once the receipt
 * backlog passes a threshold, receipts of every class but OTP and alert are only read for a
 * deterministic share of messages, the others just counted; OTP and alert receipts — and
 * receipts of messages whose class is not known — are always read in full.
 *
 * The share is chosen by a hash of the message id, which says nothing about whether the message
 * was delivered, so rates computed over the sampled receipts stay unbiased (monitor/src/traffic.ts
 * takes sampled-out messages out of the delivered rate's books entirely). Pure.
 */

/** Classes whose receipts are never sampled. */
export const FULL_CLASSES: ReadonlySet<string> = new Set(['otp', 'alert']);

export interface SamplerOptions {
  /** Backlog (records behind, over every partition) at which sampling starts. Default 50,000. */
  threshold?: number;
  /** Share of sampled classes still read in full while sampling (0..1). Default 0.1. */
  ratio?: number;
}

export class ReceiptSampler {
  readonly threshold: number;
  readonly ratio: number;
  private readonly lags = new Map<number, number>();
  private sampling = false;

  constructor(options: SamplerOptions = {}) {
    this.threshold = options.threshold ?? 50_000;
    this.ratio = Math.min(1, Math.max(0, options.ratio ?? 0.1));
  }

  /** Records what a receipts partition had left after its last fetched batch. */
  recordLag(partition: number, lag: number): void {
    this.lags.set(partition, lag);
    const backlog = this.backlog;
    // Half the threshold to stop: a backlog hovering around it must not flip every batch.
    if (!this.sampling && backlog >= this.threshold) this.sampling = true;
    else if (this.sampling && backlog < this.threshold / 2) this.sampling = false;
  }

  get backlog(): number {
    let total = 0;
    for (const lag of this.lags.values()) total += lag;
    return total;
  }

  get active(): boolean {
    return this.sampling;
  }

  /** Whether to read this receipt in full; `messageClass` undefined when not known. */
  keep(messageId: string, messageClass: string | undefined): boolean {
    if (!this.sampling || messageClass === undefined || FULL_CLASSES.has(messageClass)) return true;
    return (fnv1a(messageId) % 10_000) / 10_000 < this.ratio;
  }
}
