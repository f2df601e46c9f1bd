import type { Cache, CacheScript } from '../../../core/cache/cache.ts';
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

/** What opening a pass found: the claim won (and whether the API aborted it), or another's claim. */
export type Opening =
  | { claimed: true; aborted: boolean }
  /** Claimed before, by another bridge or an earlier life of this one; its result if it stored one. */
  | { claimed: false; stored: PassResult | undefined };

/** What opening a pass should also do, in the same atomic step as the claim. */
export interface OpenOptions {
  /** A first send: refuse it (and stamp nobody) when the API marked it aborted. */
  checkAbort: boolean;
  /**
   * The provider the pass means to call first, with its handover marker: stamped on the claim and
   * written now, so the call needs no write of its own before it goes out.
   */
  calling?: { provider: string; handover: { key: string; value: string } };
}

/**
 * The claim, the abort check, the stamp of the first provider and its handover marker, in one
 * atomic step: KEYS claim, result, abort[, handover]; ARGV claim value with the provider, ttl,
 * check abort (1/0), handover value, claim value without a provider. Replies {1, aborted, ''} when
 * the claim is won, {0, 0, stored result or ''} when it was already taken. An aborted pass is
 * claimed without a provider, so a crash then never reads as "a provider may have it".
 */
export const OPEN_PASS_SCRIPT: CacheScript<[number, number, string]> = {
  name: 'pigeonOpenPass',
  lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, 0, redis.call('GET', KEYS[2]) or ''}
end
local aborted = ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 1
if aborted or #KEYS < 4 then
  redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[2])
  return {1, aborted and 1 or 0, ''}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[2])
return {1, 0, ''}
`,
  memory(redis, keys, args) {
    const [claimKey, resultKey, abortKey, handoverKey] = keys;
    const px = Number(args[1]);
    if (redis.exists(claimKey!)) return [0, 0, redis.get(resultKey!) ?? ''];
    const aborted = args[2] === '1' && redis.exists(abortKey!);
    if (aborted || handoverKey === undefined) {
      redis.set(claimKey!, args[4]!, { px });
      return [1, aborted ? 1 : 0, ''];
    }
    redis.set(claimKey!, args[0]!, { px });
    redis.set(handoverKey, args[3]!, { px });
    return [1, 0, ''];
  },
};

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
  private readonly abortKey: string;
  /** Writes that must reach the cache with the result and before it (see beforeResult). */
  private readonly withResult: Array<() => Promise<unknown>> = [];

  constructor(
    private readonly cache: Cache,
    messageId: string,
    passKey: string,
    private readonly options: PassClaimOptions,
  ) {
    this.claimKey = Markers.attempt(messageId, passKey);
    this.resultKey = Markers.result(messageId, passKey);
    this.recoveryKey = Markers.recovery(messageId, passKey);
    this.abortKey = Markers.abort(messageId);
  }

  /**
   * Takes the pass, or finds who has it, in one atomic step (see OPEN_PASS_SCRIPT): on the happy
   * path the only round trip before the provider call, beside the token it shares a pipeline with.
   */
  async open(options: OpenOptions): Promise<Opening> {
    const at = this.options.now();
    const keys = [this.claimKey, this.resultKey, this.abortKey];
    const calling = options.calling;
    if (calling) keys.push(calling.handover.key);
    const [claimed, aborted, stored] = await this.cache.runScript(OPEN_PASS_SCRIPT, keys, [
      JSON.stringify({ at, provider: calling?.provider } satisfies Claim),
      MARKER_TTL_MS,
      options.checkAbort ? 1 : 0,
      calling?.handover.value ?? '',
      JSON.stringify({ at } satisfies Claim),
    ]);
    if (claimed === 1) return { claimed: true, aborted: aborted === 1 };
    return { claimed: false, stored: stored === '' ? undefined : (JSON.parse(stored) as PassResult) };
  }

  /** Stamps the provider about to be called: a crash from here on may have left it with the message. */
  async calling(provider: string): Promise<void> {
    await this.cache.set(this.claimKey, JSON.stringify({ at: this.options.now(), provider }), {
      ttlMs: MARKER_TTL_MS,
    });
  }

  /**
   * Takes back the stamp `open` put on the claim, for a pass that failed before it called anyone
   * (the cache timed out under load, say): its replay then runs the pass again instead of taking
   * the message for possibly sent. Best effort: if this write fails too, the replay errs the safe
   * way, never sending twice.
   */
  async uncalled(): Promise<void> {
    await this.cache
      .set(this.claimKey, JSON.stringify({ at: this.options.now() } satisfies Claim), {
        ttlMs: MARKER_TTL_MS,
      })
      .catch(() => false);
  }

  /**
   * A write that must land before the result is stored (the provider's message-id map: a replay
   * republishing a submission whose receipts cannot be matched would lose them). It is issued with
   * the result, in order, so both travel in one pipelined round trip; Redis runs one connection's
   * commands in the order sent.
   */
  beforeResult(write: () => Promise<unknown>): void {
    this.withResult.push(write);
  }

  async storeResult(result: PassResult): Promise<void> {
    const writes = this.withResult.splice(0).map((write) => write());
    writes.push(this.cache.set(this.resultKey, JSON.stringify(result), { ttlMs: MARKER_TTL_MS }));
    await Promise.all(writes);
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
