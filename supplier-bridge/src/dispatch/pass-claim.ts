import { randomUUID } from 'node:crypto';
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
  /** Another bridge is recovering it and may still be on it: ask again then. */
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

/**
 * The fence of the scripts below: KEYS[2] is the pass's recovery marker, ARGV[3] the caller's own
 * ('' for the bridge that claimed it). A marker that is not the caller's means another bridge took
 * the pass over, and the script replies 0 without writing.
 */
const FENCED_OFF = `
local recovery = redis.call('GET', KEYS[2])
if recovery and recovery ~= ARGV[3] then
  return 0
end
`;

/** FENCED_OFF for the in-memory cache. */
function fencedOff(recovery: string | null, own: string): boolean {
  return recovery !== null && recovery !== own;
}

/**
 * Stamps the provider about to be called on the claim (and writes its handover marker) unless
 * another bridge took the pass over: KEYS claim, recovery[, handover]; ARGV claim value, ttl, the
 * caller's own recovery marker ('' for the bridge that claimed the pass), handover value. Replies
 * 1 when stamped, 0 when refused. Fencing, not a lease: once a take-over set its marker, a bridge
 * still working on the pass (a zombie) can no longer reach a provider for it.
 */
export const STAMP_CLAIM_SCRIPT: CacheScript<number> = {
  name: 'pigeonStampClaim',
  lua: `${FENCED_OFF}redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if #KEYS > 2 then
  redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[2])
end
return 1
`,
  memory(redis, keys, args) {
    const [claimKey, recoveryKey, handoverKey] = keys;
    const px = Number(args[1]);
    if (fencedOff(redis.get(recoveryKey!), args[2]!)) return 0;
    redis.set(claimKey!, args[0]!, { px });
    if (handoverKey !== undefined) redis.set(handoverKey, args[3]!, { px });
    return 1;
  },
};

/**
 * Stores a pass's result unless another bridge took the pass over: KEYS result, recovery; ARGV
 * result, ttl, the caller's own recovery marker (as STAMP_CLAIM_SCRIPT). Replies 1 or 0. After a
 * take-over only the recovering bridge's result is stored, so every replay republishes that one.
 */
export const STORE_RESULT_SCRIPT: CacheScript<number> = {
  name: 'pigeonStoreResult',
  lua: `${FENCED_OFF}redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`,
  memory(redis, keys, args) {
    const [resultKey, recoveryKey] = keys;
    if (fencedOff(redis.get(recoveryKey!), args[2]!)) return 0;
    redis.set(resultKey!, args[0]!, { px: Number(args[1]) });
    return 1;
  },
};

/**
 * The recovery of a pass another bridge claimed and left without a result, decided in one atomic
 * step: KEYS claim, recovery, result; ARGV this recoverer's marker (`<at>:<token>`), ttl, now,
 * lease (ms). Replies {kind, claim or '', result or notBefore or ''}: 'take-over' when no recovery
 * was marked (the marker is set now, and the claim is as it stood at that instant, so a stamp
 * either came before and is seen, or comes after and is refused); 'stored' when a recovery stored
 * its result; 'wait' while an earlier recovery's lease runs; 'cut-off' once it ran out (the marker
 * becomes this recoverer's, which fences the earlier one should it still be alive).
 */
export const RECOVER_PASS_SCRIPT: CacheScript<[Recovery['kind'], string, string]> = {
  name: 'pigeonRecoverPass',
  lua: `
local claim = redis.call('GET', KEYS[1]) or ''
local recovery = redis.call('GET', KEYS[2])
if not recovery then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {'take-over', claim, ''}
end
local stored = redis.call('GET', KEYS[3])
if stored then
  return {'stored', claim, stored}
end
local leaseEnd = (tonumber(string.match(recovery, '^%d+')) or 0) + tonumber(ARGV[4])
if tonumber(ARGV[3]) < leaseEnd then
  return {'wait', claim, string.format('%.0f', leaseEnd)}
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {'cut-off', claim, ''}
`,
  memory(redis, keys, args) {
    const [claimKey, recoveryKey, resultKey] = keys;
    const px = Number(args[1]);
    const claim = redis.get(claimKey!) ?? '';
    const recovery = redis.get(recoveryKey!);
    if (recovery === null) {
      redis.set(recoveryKey!, args[0]!, { px });
      return ['take-over', claim, ''];
    }
    const stored = redis.get(resultKey!);
    if (stored !== null) return ['stored', claim, stored];
    const leaseEnd = recoveredAt(recovery) + Number(args[3]);
    if (Number(args[2]) < leaseEnd) return ['wait', claim, String(leaseEnd)];
    redis.set(recoveryKey!, args[0]!, { px });
    return ['cut-off', claim, ''];
  },
};

/** When a recovery marker was set: `<at>:<token>`, or a bare `<at>` as written before fencing. */
const recoveredAt = (marker: string): number => Number(/^\d+/.exec(marker)?.[0] ?? 0);

export interface PassClaimOptions {
  now: () => number;
  /** Longest a provider call may take; a recovery's lease is measured in these. */
  sendTimeoutMs: number;
}

/**
 * The markers that make a pass run exactly once across crashes and replays: a claim taken before
 * anything else, stamped with the provider just before each call, and the pass's result stored
 * under it, so a replayed batch republishes the very same records (same event ids). A bridge that
 * takes a pass over sets the recovery marker; from then on only its stamps and its result are
 * written, so whoever held the pass before is fenced off, however long it stalled.
 */
export class PassClaim {
  private readonly claimKey: string;
  private readonly resultKey: string;
  private readonly recoveryKey: string;
  private readonly abortKey: string;
  /** This bridge's recovery marker, once it took the pass over: its stamps and result pass the fence. */
  private recovering: string | undefined;
  /**
   * Set once a stamp or the result was refused: another bridge took the pass over, and its
   * decision stands. Nothing of this pass may be called, stored or published here any more.
   */
  superseded = false;
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

  /**
   * Stamps the provider about to be called, with its handover marker: a crash from here on may
   * have left it with the message. False when another bridge took the pass over: the provider
   * must not be called, and the pass is no longer this bridge's to finish (see `superseded`).
   */
  async calling(provider: string, handover: { key: string; value: string }): Promise<boolean> {
    const claim: Claim = { at: this.options.now(), provider };
    return this.stamp(claim, handover);
  }

  /**
   * Takes back the stamp `open` put on the claim, for a pass that failed before it called anyone
   * (the cache timed out under load, say): its replay then runs the pass again instead of taking
   * the message for possibly sent. Best effort: if this write fails too, the replay errs the safe
   * way, never sending twice.
   */
  async uncalled(): Promise<void> {
    await this.stamp({ at: this.options.now() }).catch(() => false);
  }

  /** Writes the claim (and a handover marker) unless the pass was taken over by another bridge. */
  private async stamp(claim: Claim, handover?: { key: string; value: string }): Promise<boolean> {
    const keys = [this.claimKey, this.recoveryKey];
    if (handover) keys.push(handover.key);
    const stamped = await this.cache.runScript(STAMP_CLAIM_SCRIPT, keys, [
      JSON.stringify(claim),
      MARKER_TTL_MS,
      this.recovering ?? '',
      handover?.value ?? '',
    ]);
    if (stamped === 0) this.superseded = true;
    return stamped === 1;
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

  /**
   * Stores the pass's result; false when another bridge took the pass over meanwhile (its result
   * is the one that stands: this one must not be published either).
   */
  async storeResult(result: PassResult): Promise<boolean> {
    const writes: Array<Promise<unknown>> = this.withResult.splice(0).map((write) => write());
    const stored = this.cache.runScript(
      STORE_RESULT_SCRIPT,
      [this.resultKey, this.recoveryKey],
      [JSON.stringify(result), MARKER_TTL_MS, this.recovering ?? ''],
    );
    writes.push(stored);
    await Promise.all(writes);
    if ((await stored) === 0) this.superseded = true;
    return !this.superseded;
  }

  /**
   * For a pass claimed by a bridge that died (or stalled) before storing its result: taken over at
   * once, whether or not the claim names a provider, since the take-over fences the first claimer
   * off (see STAMP_CLAIM_SCRIPT); one recovery at a time, and a recovery cut off as well is given
   * up once its own lease passes.
   */
  async recover(): Promise<Recovery> {
    const now = this.options.now();
    const marker = `${now}:${randomUUID()}`;
    const [kind, raw, value] = await this.cache.runScript(
      RECOVER_PASS_SCRIPT,
      [this.claimKey, this.recoveryKey, this.resultKey],
      [marker, MARKER_TTL_MS, now, this.leaseMs()],
    );
    const claim = raw ? (JSON.parse(raw) as Claim) : { at: 0 };
    switch (kind) {
      case 'stored':
        return { kind, result: JSON.parse(value) as PassResult };
      case 'wait':
        return { kind, notBefore: Number(value) };
      case 'take-over':
      case 'cut-off':
        this.recovering = marker;
        return { kind, claim };
    }
  }

  /**
   * How long a recovery may still be worked on by a live bridge after it began: it may call a
   * provider, wait out a send timeout, and call another; without a result after that and some
   * slack, whoever recovered the pass is gone.
   */
  private leaseMs(): number {
    return 2 * this.options.sendTimeoutMs + 5_000;
  }
}
