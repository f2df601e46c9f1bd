/**
 * A campaign's rate cap (messages per second) as a token bucket over an explicit clock: it fills
 * at `ratePerSecond` up to `burst`, and the runner releases only as many rows as it holds. No cap:
 * always full.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number | undefined,
    now: number,
    /** Default one second of the rate: a cap of 50/s never releases more than 50 rows at once. */
    private readonly burst = Math.max(1, ratePerSecond ?? 1),
  ) {
    this.tokens = this.burst;
    this.last = now;
  }

  /** Whole rows that may go now. */
  available(now: number): number {
    if (this.ratePerSecond === undefined) return Number.POSITIVE_INFINITY;
    this.refill(now);
    return Math.floor(this.tokens);
  }

  /** Spends `count` tokens (the rows released); never below zero. */
  take(count: number, now: number): void {
    if (this.ratePerSecond === undefined) return;
    this.refill(now);
    this.tokens = Math.max(0, this.tokens - count);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond!) / 1000);
  }
}
