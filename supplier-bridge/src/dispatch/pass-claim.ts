import type { Cache } from '../../../core/cache/cache.ts';
import { MARKER_TTL_MS, Markers } from '../../../core/markers.ts';
import type { PassResult } from './pass.ts';

/** What a claim marker holds: when the pass was claimed (or last called out) and whom it called. */
export interface Claim {
  at: number;
  /** The provider about to be called when the claim was last stamped. */
  provider?: string;
}

/** What to do with a pass that another bridge claimed and left without a result. */
export type Recovery =
  /** Its result was stored meanwhile: republish it. */
  | { kind: 'stored'; result: PassResult }
  /** Someone may still be on it: ask again then. */
  | { kind: 'wait'; notBefore: number }
  /** This bridge now owns the recovery of the pass. */
  | { kind: 'take-over'; claim: Claim }
  /** A recovery was claimed too, and cut off as well: nothing more may go out. */
  | { kind: 'cut-off'; claim: Claim };

export interface PassClaimOptions {
  now: () => number;
  /** Longest a provider call may take; a claim's lease is measured in these. */
  sendTimeoutMs: number;
}

/**
 * The markers that make a pass run exactly once across crashes and replays: a claim taken before
 * anything else, stamped with the provider just before each call, and the pass's result stored
 * under it, so a replayed batch republishes the very same records (same event ids).
 */
export class PassClaim {
  private readonly claimKey: string;
  private readonly resultKey: string;
  private readonly recoveryKey: string;

  constructor(
    private readonly cache: Cache,
    messageId: string,
    passKey: string,
    private readonly options: PassClaimOptions,
  ) {
    this.claimKey = Markers.attempt(messageId, passKey);
    this.resultKey = Markers.result(messageId, passKey);
    this.recoveryKey = Markers.recovery(messageId, passKey);
  }

  /** Takes the pass; false when another bridge (or an earlier life of this one) has it. */
  claim(): Promise<boolean> {
    return this.cache.set(this.claimKey, JSON.stringify({ at: this.options.now() }), {
      nx: true,
      ttlMs: MARKER_TTL_MS,
    });
  }

  /** Stamps the provider about to be called: a crash from here on may have left it with the message. */
  async calling(provider: string): Promise<void> {
    await this.cache.set(this.claimKey, JSON.stringify({ at: this.options.now(), provider }), {
      ttlMs: MARKER_TTL_MS,
    });
  }

  async storedResult(): Promise<PassResult | undefined> {
    const stored = await this.cache.get(this.resultKey);
    return stored === undefined ? undefined : (JSON.parse(stored) as PassResult);
  }

  async storeResult(result: PassResult): Promise<void> {
    await this.cache.set(this.resultKey, JSON.stringify(result), { ttlMs: MARKER_TTL_MS });
  }

  /**
   * For a pass claimed by a bridge that died before storing its result: a claim that never
   * reached a provider is taken over once nobody can still be on it; one recovery at a time, and
   * a recovery cut off as well is given up once its own lease passes.
   */
  async recover(): Promise<Recovery> {
    const { cache } = this;
    const now = this.options.now;
    const raw = await cache.get(this.claimKey);
    const claim = raw ? (JSON.parse(raw) as Claim) : { at: 0 };
    if (!claim.provider && now() < this.leaseEnd(claim.at)) {
      return { kind: 'wait', notBefore: this.leaseEnd(claim.at) };
    }
    const first = await cache.set(this.recoveryKey, String(now()), { nx: true, ttlMs: MARKER_TTL_MS });
    if (first) return { kind: 'take-over', claim };
    const previous = await cache.get(this.resultKey);
    if (previous) return { kind: 'stored', result: JSON.parse(previous) as PassResult };
    const recoveringSince = Number((await cache.get(this.recoveryKey)) ?? 0);
    if (now() < this.leaseEnd(recoveringSince)) {
      return { kind: 'wait', notBefore: this.leaseEnd(recoveringSince) };
    }
    return { kind: 'cut-off', claim };
  }

  /**
   * Until when a claim (or a recovery) stamped at `at` may still be worked on by a live bridge:
   * it records its provider just before each call, so without one after a send timeout and some
   * slack, nobody is calling a provider for it.
   */
  private leaseEnd(at: number): number {
    return at + 2 * this.options.sendTimeoutMs + 5_000;
  }
}
