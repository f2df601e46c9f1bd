import { Counter, type Registry } from 'prom-client';
import type { Cache } from '../../../core/cache/cache.ts';
import type { Logger } from '../../../core/logger.ts';
import { Markers } from '../../../core/markers.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { backoffDelay, isRetriable } from '../../../core/retry.ts';
import { isSuppressed } from '../../../core/suppression-cache.ts';
import { CAMPAIGN_CANCELLED_CODE, isCampaignCancelled } from '../../../core/campaign-cancel.ts';
import { ProviderError } from '../../../providers/provider.ts';
import type { BreakerSettings } from '../../../providers/registry.ts';
import type { PlannedProvider, RoutePlanner } from '../../../routing/planner.ts';
import { handoverMarker, recordAcceptance } from '../../../routing/receipt-matcher.ts';
import type { Admission, ProviderGate } from '../provider-gate.ts';
import { AdmissionControl, tpsLimit } from './admission.ts';
import { BreakerRegistry } from './breakers.ts';
import {
  type Acceptance,
  attemptFailed,
  type FailedAt,
  type Failure,
  messageFailed,
  messageSubmitted,
  type Refusal,
} from './events.ts';
import { type AwaitAnswer, awaitInPlace, type Pass, type PassResult, passKey } from './pass.ts';
import { PassClaim } from './pass-claim.ts';
import { followUpRecord, type NextPass } from './pass-headers.ts';
import { ProviderCalls } from './provider-call.ts';
import { DEFAULT_MAX_ROUNDS, nextRound, RetryBudget, ROUND_BACKOFF } from './retry-rounds.ts';
import { BridgeEvents } from '../events.ts';
import type { QuietHold, QuietHoursGate } from './quiet-hours.ts';
import { eventBase } from '../../../core/events.ts';
import { DELAY_TOPICS } from '../../../core/topics.ts';

export interface DispatcherOptions {
  planner: RoutePlanner;
  gate: ProviderGate;
  cache: Cache;
  logger: Logger;
  registry: Registry;
  /** Base URL of the gateway's receipt webhooks, e.g. http://127.0.0.1:3000. */
  publicUrl: string;
  /** Turns a sealed (encrypted) body back into text just before the provider call. */
  openBody?: (body: string) => string;
  /** Defaults for providers whose definition names no breaker settings. */
  breaker?: BreakerSettings;
  /** Per class: how long an OTP or alert may wait for its delivered receipt before one more copy goes elsewhere (0 = never). */
  receiptTimeoutMs?: { otp: number; alert: number };
  /** Ambiguous failovers allowed for OTP and alert (default 1). */
  urgentAmbiguousFailovers?: number;
  maxRounds?: number;
  /** Longest a send waits for a provider's rate limit before trying the next provider. */
  maxGateWaitMs?: number;
  retryBudget?: RetryBudget;
  /** Holds marketing messages through their recipients' quiet hours; absent: nothing is held. */
  quietHours?: QuietHoursGate;
  random?: () => number;
  now?: () => number;
  /**
   * Whether the recipient opted out of this message (core/suppression-cache.ts); one cache GET by
   * default. A seam, so a bridge that pipelines its per-message reads can answer from its batch.
   */
  suppressed?: (message: MessageRequested) => Promise<boolean>;
}

/**
 * The broker's append clock may run ahead of the API's: a record is refused by deadline only when
 * it landed clearly late, so an accepted message is never refused. The API's abort marker covers
 * records that land inside this tolerance after a 503.
 */
const ACCEPT_CLOCK_TOLERANCE_MS = 1_000;
const DEFAULT_SEND_TIMEOUT_MS = 10_000;

/** Where a pass stands while it walks the candidates. */
interface Walk {
  attempts: number;
  ambiguousLeft: number;
  excluded: Set<string>;
  lastError: ProviderError | undefined;
  /** A provider may have taken the message in this pass. */
  ambiguous: Refusal | undefined;
  /** Calls of this pass that did not take the message while it went on. */
  refusals: Refusal[];
}

/**
 * What a pass learned in the round trip that claimed it, so it need not ask again: the abort
 * marker, the opt-out, the quiet-hours hold, the route plan, and the first provider's token with
 * the claim already stamped for it (`lead`).
 */
interface Prefetched {
  aborted?: boolean;
  suppressed?: boolean;
  /** Whether the message's campaign was cancelled (core/campaign-cancel.ts). */
  cancelled?: boolean;
  /** Present when the hold was judged before the claim (undefined value: not held). */
  hold?: { value: QuietHold | undefined };
  plan?: PlannedProvider[];
  lead?: Lead;
  /** Set just before the pass's first provider call: until then the claim's stamp can be taken back. */
  called?: boolean;
}

/** The provider a pass will call first, its token asked for beside the claim. */
interface Lead {
  planned: PlannedProvider;
  admission: Admission;
  /** Set once the walk took the admission over; a granted token nobody used is given back. */
  used: boolean;
}

/** A Set that forgets everything once it holds `max` entries (rare leftovers, never a leak). */
class BoundedSet extends Set<string> {
  constructor(private readonly max: number) {
    super();
  }

  override add(value: string): this {
    if (this.size >= this.max) this.clear();
    return super.add(value);
  }
}

/** The first pass over a message: the only one the API's accept deadline and abort marker apply to. */
const isFirstSend = (pass: Pass) => pass.kind === 'send' && pass.round === 0;

const isUrgent = (message: MessageRequested) => message.class === 'otp' || message.class === 'alert';

/**
 * Turns one pass over a requested message into its outcome: checks that it may still be sent,
 * claims the pass so a crashed and restarted bridge never sends twice what a provider accepted,
 * and walks the planned providers through their gates and circuit breakers until one accepts, the
 * failure is permanent, or every provider refused without sending (then a later round is
 * scheduled on a delay topic, until the message expires).
 */
export class Dispatcher {
  private readonly breakers: BreakerRegistry;
  private readonly calls: ProviderCalls;
  private readonly results: Counter<'result' | 'class'>;
  private readonly skipped: Counter<'reason' | 'class'>;
  private readonly suppressed: (message: MessageRequested) => Promise<boolean>;
  private readonly admission: AdmissionControl;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sendTimeoutMs: number;
  /**
   * Passes (message id and pass key) this process opened and has not called a provider for yet.
   * Only this process can know that a claim it took was never acted on; a replay in another
   * process errs the safe way. Entries go when the pass ends or calls; bounded against leftovers
   * of passes whose partition moved away before their replay.
   */
  private readonly openedUncalled = new BoundedSet(100_000);
  /**
   * Passes this process called a provider for and could not finish (their result was not stored):
   * a replay here must never count as one of its own uncalled passes, even after an open whose
   * outcome it could not learn (the cache cut off), or it would send the message again.
   */
  private readonly calledUnfinished = new BoundedSet(100_000);

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.sendTimeoutMs = options.breaker?.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    const r = options.registry;
    this.breakers = new BreakerRegistry({ registry: r, logger: options.logger, defaults: options.breaker });
    this.calls = new ProviderCalls({
      breakers: this.breakers,
      logger: options.logger,
      registry: r,
      publicUrl: options.publicUrl,
      sendTimeoutMs: this.sendTimeoutMs,
    });
    this.admission = new AdmissionControl({
      gate: options.gate,
      budget: options.retryBudget ?? new RetryBudget({ now: this.now }),
      registry: r,
      maxGateWaitMs: options.maxGateWaitMs ?? 1_000,
    });
    this.suppressed = options.suppressed ?? ((message) => isSuppressed(options.cache, message));
    this.skipped = new Counter({
      name: 'pigeon_bridge_skipped_total',
      help: 'Messages ended `skipped` before any provider was called, by reason (opted_out, campaign_cancelled) and class',
      labelNames: ['reason', 'class'],
      registers: [r],
    });
    this.results = new Counter({
      name: 'pigeon_bridge_messages_total',
      help: 'Passes over messages by result (submitted, failed, retry_scheduled, …)',
      labelNames: ['result', 'class'],
      registers: [r],
    });
  }

  /** True when the breaker that would carry this provider's traffic to `country` is open. */
  breakerOpen = (provider: string, country: string | undefined): boolean =>
    this.breakers.isOpen(provider, country);

  /** State of every breaker (`provider:country` or `provider:*`): 0 closed, 1 half-open, 2 open; for heartbeats. */
  breakerStates(): Record<string, number> {
    return this.breakers.states();
  }

  /**
   * Runs one pass exactly once across crashes and replays; see PassResult. On the happy path the
   * cache is asked twice, each time with commands sent together: before the call, the claim (with
   * the abort check, the first provider's stamp and handover marker), the opt-out read and that
   * provider's token; after it, the provider's message-id map and the pass's result.
   */
  async dispatch(
    message: MessageRequested,
    pass: Pass,
    awaitAnswer: AwaitAnswer = awaitInPlace,
  ): Promise<PassResult> {
    const claim = new PassClaim(this.options.cache, message.messageId, passKey(pass), {
      now: this.now,
      sendTimeoutMs: this.sendTimeoutMs,
    });
    const prefetched: Prefetched = {};
    const quietHours = this.options.quietHours;
    // Judged before the claim (a policy from memory): a held message asks for no token.
    if (quietHours && message.class === 'marketing' && pass.kind !== 'receipt-check') {
      prefetched.hold = { value: await quietHours.holdFor(message, this.now()) };
    }
    const walks =
      pass.kind !== 'receipt-check' &&
      !prefetched.hold?.value &&
      !this.pastDeadline(message, pass) &&
      this.now() < Date.parse(message.expiresAt);
    if (walks) prefetched.plan = this.planFor(message, pass.exclude);
    const first = prefetched.plan?.find((p) => !this.breakerOpen(p.provider, message.country));
    // Issued in one turn, so they share one write to Redis (auto-pipelining): the token is asked
    // for before the claim is known to be won, and given back when the pass does not call.
    const opened = `${message.messageId}:${passKey(pass)}`;
    // Known before this open, which adds it: a replay of a pass this process opened and left.
    // Never one it called a provider for: that claim stands for "possibly sent".
    const calledBefore = this.calledUnfinished.has(opened);
    const reopened = !calledBefore && this.openedUncalled.has(opened);
    if (!calledBefore) this.openedUncalled.add(opened);
    const [opening, suppressed, cancelled, admission] = await Promise.all([
      claim.open({
        checkAbort: isFirstSend(pass),
        ...(first
          ? { calling: { provider: first.provider, handover: handoverMarker(first.provider, message) } }
          : {}),
      }),
      // These only spare the pass a round trip: when one fails, the pass asks again on its way.
      walks ? this.suppressed(message).catch(() => undefined) : undefined,
      walks ? isCampaignCancelled(this.options.cache, message).catch(() => undefined) : undefined,
      first
        ? this.options.gate
            .acquire(first.provider, tpsLimit(first, message), this.options.maxGateWaitMs ?? 1_000)
            .catch(() => undefined)
        : undefined,
    ]);
    const lead = first && admission ? { planned: first, admission, used: false } : undefined;
    // Claimed first, and every result stored under the claim, so a replayed batch republishes
    // the very same records (same event ids) whatever the pass decided.
    let result: PassResult;
    // A claim taken before by this very process, for a pass that called nobody (its open timed out
    // after Redis ran it, or a later step failed): it is still this process's to run, at once.
    const ownReplay = !opening.claimed && opening.stored === undefined && reopened;
    if (opening.claimed || ownReplay) {
      if (opening.claimed) {
        prefetched.aborted = opening.aborted;
        if (suppressed !== undefined) prefetched.suppressed = suppressed;
        if (cancelled !== undefined) prefetched.cancelled = cancelled;
        if (lead) prefetched.lead = lead;
      }
      try {
        result = await this.decide(message, pass, claim, awaitAnswer, undefined, prefetched);
      } catch (err) {
        // The claim may name a provider since `open`: if nobody was called, say so, or a replay
        // elsewhere would take the message for possibly sent and never send it.
        if (prefetched.called) {
          this.openedUncalled.delete(opened);
          this.calledUnfinished.add(opened);
        } else await claim.uncalled();
        throw err;
      }
    } else {
      this.openedUncalled.delete(opened);
      if (opening.stored !== undefined) {
        await this.refundUnused(lead, message);
        return opening.stored;
      }
      try {
        result = await this.recover(message, pass, claim, awaitAnswer);
      } catch (err) {
        // A recovery may have called a provider before it failed: possibly sent, from now on.
        this.calledUnfinished.add(opened);
        throw err;
      }
      if (result.notBefore !== undefined) {
        await this.refundUnused(lead, message);
        return result;
      }
    }
    let stored: boolean;
    try {
      // A pass refused at its stamp stores nothing: the bridge that took it over decides it.
      [stored] = await Promise.all([
        claim.superseded ? false : claim.storeResult(result),
        this.refundUnused(lead, message),
      ]);
    } catch (err) {
      // The pass's result is unrecorded. If it called a provider (or may have, in a recovery), a
      // replay here must take the message for possibly sent, like a replay anywhere else.
      if (!(opening.claimed || ownReplay) || prefetched.called) {
        this.openedUncalled.delete(opened);
        this.calledUnfinished.add(opened);
      }
      throw err;
    }
    this.openedUncalled.delete(opened);
    this.calledUnfinished.delete(opened);
    if (!stored) return this.superseded(message, pass);
    return result;
  }

  /**
   * Another bridge took the pass over while this one was on it (this one stalled, or lost its
   * partition and did not know yet): its decision is the one stored and published. This bridge
   * publishes nothing, so its batch commits; a replay here finds the other's result.
   */
  private superseded(message: MessageRequested, pass: Pass): PassResult {
    this.results.inc({ result: 'superseded', class: message.class });
    this.options.logger.warn(
      { messageId: message.messageId, pass: passKey(pass) },
      BridgeEvents.passSuperseded,
    );
    return {};
  }

  /** Gives back the lead's token when it was granted and no call used it. */
  private async refundUnused(lead: Lead | undefined, message: MessageRequested): Promise<void> {
    if (!lead || lead.used || !lead.admission.granted) return;
    await this.options.gate.refund(lead.planned.provider, tpsLimit(lead.planned, message));
  }

  private pastDeadline(message: MessageRequested, pass: Pass): boolean {
    return (
      isFirstSend(pass) && pass.appendedAt > Date.parse(message.acceptDeadline) + ACCEPT_CLOCK_TOLERANCE_MS
    );
  }

  private planFor(message: MessageRequested, exclude: readonly string[]): PlannedProvider[] {
    const excluded = new Set(exclude);
    return this.options.planner
      .plan(message, { breakerOpen: this.breakerOpen })
      .filter((p) => !excluded.has(p.provider));
  }

  /**
   * A pass claimed by a bridge that died (or stalled) before storing its result. If it never
   * reached a provider, it is run again at once: the take-over fenced the first claimer off, so it
   * can no longer call anyone or store a result for the pass. If a provider may have the message,
   * bulk and transactional traffic is never sent again (it ends `unknown` unless a receipt comes);
   * an OTP or alert gets exactly one more copy, through another provider when there is one.
   */
  private async recover(
    message: MessageRequested,
    pass: Pass,
    claim: PassClaim,
    awaitAnswer: AwaitAnswer,
  ): Promise<PassResult> {
    const recovery = await claim.recover();
    if (recovery.kind === 'wait') return { notBefore: recovery.notBefore };
    if (recovery.kind === 'stored') return recovery.result;
    const { provider, at } = recovery.claim;
    this.results.inc({ result: 'in_flight_at_crash', class: message.class });
    if (recovery.kind === 'cut-off') {
      // The recovery was cut off too. Whatever it may have sent stands; nothing more goes out.
      return this.failed(
        message,
        {
          status: 'unknown',
          errorClass: 'ambiguous',
          errorCode: 'CRASH_IN_RECOVERY',
          reason: 'bridge stopped while recovering',
        },
        { provider, attempt: pass.attemptsSoFar + 1 },
      );
    }
    this.options.logger.warn(
      { messageId: message.messageId, provider, pass: passKey(pass) },
      BridgeEvents.recoveringCrashedPass,
    );
    if (!provider) return this.decide(message, pass, claim, awaitAnswer);
    if (!isUrgent(message)) {
      return this.failed(
        message,
        {
          status: 'unknown',
          errorClass: 'ambiguous',
          errorCode: 'CRASH_IN_FLIGHT',
          reason: 'bridge stopped mid-send',
        },
        // The claim was stamped just before that provider was called.
        { provider, attempt: pass.attemptsSoFar + 1, requestedAt: at },
      );
    }
    // Another provider if there is one; else the same one again. The crash may have come before
    // the request left, and a second copy of a code beats none.
    const others = [...pass.exclude, provider];
    const exclude = this.planFor(message, others).length > 0 ? others : [...pass.exclude];
    return this.decide(
      message,
      { ...pass, exclude, attemptsSoFar: pass.attemptsSoFar + 1 },
      claim,
      awaitAnswer,
      {
        failover: 'crash_recovery',
        ambiguousLeft: 0,
      },
    );
  }

  private async decide(
    message: MessageRequested,
    pass: Pass,
    claim: PassClaim,
    awaitAnswer: AwaitAnswer,
    recovery?: { failover: string; ambiguousLeft: number },
    prefetched: Prefetched = {},
  ): Promise<PassResult> {
    const { cache } = this.options;
    if (isFirstSend(pass)) {
      if (this.pastDeadline(message, pass)) {
        return this.failed(message, {
          status: 'rejected',
          errorClass: 'accept_timeout',
          errorCode: 'ACCEPT_DEADLINE',
          reason: 'appended after the API gave up',
        });
      }
      if (prefetched.aborted ?? (await this.abortMarked(message))) {
        return this.failed(message, {
          status: 'rejected',
          errorClass: 'accept_timeout',
          errorCode: 'ABORTED',
          reason: 'the API answered 503 for this message',
        });
      }
    }
    if (pass.kind === 'receipt-check') {
      if ((await cache.get(Markers.delivered(message.messageId))) !== undefined) return {};
      // Past expiry the first copy stands: a late code is useless and a second one more so.
      if (this.now() >= Date.parse(message.expiresAt)) return {};
      this.results.inc({ result: 'receipt_timeout', class: message.class });
      return this.walk(message, pass, claim, awaitAnswer, { failover: 'receipt_timeout', ambiguousLeft: 0 });
    }
    if (this.now() >= Date.parse(message.expiresAt)) {
      return this.failed(
        message,
        {
          status: 'expired',
          errorClass: 'expired',
          errorCode: 'EXPIRED',
          reason: 'expired before it could be sent',
        },
        { attempt: pass.attemptsSoFar },
      );
    }
    // Checked on every pass that may call a provider, retry rounds included, so a message queued
    // or waiting for a round when the STOP (or the campaign's cancel) arrived is not sent either.
    // Both read beside the claim on a first pass; else together, in one round trip.
    const [optedOut, cancelled] = await Promise.all([
      prefetched.suppressed ?? this.suppressed(message),
      prefetched.cancelled ?? isCampaignCancelled(cache, message),
    ]);
    if (cancelled) {
      this.skipped.inc({ reason: 'campaign_cancelled', class: message.class });
      return this.failed(
        message,
        {
          status: 'skipped',
          errorClass: 'campaign_cancelled',
          errorCode: CAMPAIGN_CANCELLED_CODE,
          reason: 'its campaign was cancelled before it was handed to a provider',
        },
        { attempt: pass.attemptsSoFar },
      );
    }
    if (optedOut) {
      this.skipped.inc({ reason: 'opted_out', class: message.class });
      return this.failed(
        message,
        {
          status: 'skipped',
          errorClass: 'opted_out',
          errorCode: 'OPTED_OUT',
          reason: 'the recipient opted out of this sender or of all the tenant’s messages',
        },
        { attempt: pass.attemptsSoFar },
      );
    }
    const quietHours = this.options.quietHours;
    // Every pass that would send: a retry round that falls in the window waits for its end too.
    if (quietHours) {
      const hold = prefetched.hold ? prefetched.hold.value : await quietHours.holdFor(message, this.now());
      if (hold) return this.hold(message, pass, hold);
      if (pass.kind === 'held') quietHours.released();
    }
    return this.walk(message, pass, claim, awaitAnswer, recovery, prefetched);
  }

  /** Whether the API answered 503 for this message and marked it so (see MessagePublisher). */
  private async abortMarked(message: MessageRequested): Promise<boolean> {
    return (await this.options.cache.get(Markers.abort(message.messageId))) !== undefined;
  }

  /**
   * Sends the message round the delay topics until its quiet window ends: one hop of at most the
   * longest delay topic at a time, each pass judging the window again (the tenant may have changed
   * it). A hop never runs past expiry, so a message whose ttl ends in the window expires on time.
   */
  private hold(message: MessageRequested, pass: Pass, hold: QuietHold): PassResult {
    const now = this.now();
    const longestHop = DELAY_TOPICS.at(-1)!.delayMs;
    const dueAt = Math.min(hold.until, now + longestHop, Date.parse(message.expiresAt));
    const result: PassResult = {
      followUp: this.followUp(message, {
        kind: 'held',
        round: pass.kind === 'held' ? pass.round + 1 : 1,
        dueAt,
        exclude: [...pass.exclude],
        attempts: pass.attemptsSoFar,
        holdUntil: hold.until,
      }),
    };
    if (pass.kind !== 'held') this.options.quietHours?.held();
    if (pass.kind !== 'held' || pass.holdUntil !== hold.until) {
      result.held = {
        ...eventBase(message.messageId, message.tenantId, now),
        type: 'message.held',
        reason: 'quiet_hours',
        notBefore: new Date(hold.until).toISOString(),
        timeZone: hold.timeZone,
        class: message.class,
      };
    }
    return result;
  }

  /** Tries the planned providers in order; see the class comment for the rules. */
  private async walk(
    message: MessageRequested,
    pass: Pass,
    claim: PassClaim,
    awaitAnswer: AwaitAnswer,
    extra?: { failover: string; ambiguousLeft: number },
    prefetched: Prefetched = {},
  ): Promise<PassResult> {
    const urgent = isUrgent(message);
    const state: Walk = {
      attempts: pass.attemptsSoFar,
      ambiguousLeft: extra?.ambiguousLeft ?? (urgent ? (this.options.urgentAmbiguousFailovers ?? 1) : 0),
      excluded: new Set(pass.exclude),
      lastError: undefined,
      ambiguous: undefined,
      refusals: [],
    };
    const plan = prefetched.plan ?? this.planFor(message, pass.exclude);
    const lead = prefetched.lead;
    const body = this.options.openBody ? this.options.openBody(message.body) : message.body;

    for (const planned of plan) {
      if (this.now() >= Date.parse(message.expiresAt)) break;
      // An open breaker would refuse the call anyway: skip it before it spends a token or budget.
      if (this.breakerOpen(planned.provider, message.country)) {
        this.admission.skipped(planned.provider, 'breaker_open');
        state.lastError ??= new ProviderError('retryable', 'BREAKER_OPEN', 'breaker open');
        continue;
      }
      const leads = lead !== undefined && !lead.used && lead.planned === planned;
      if (leads) lead.used = true;
      if (!(await this.admission.admit(planned, message, pass, leads ? lead.admission : undefined))) continue;
      state.attempts++;
      // Both before the call: a crash from here on may have left the provider with the message,
      // and its receipt may arrive before (or instead of) its answer. The lead was stamped and
      // handed over with the claim; when its token came in that same round trip it is called at
      // once, unfenced: a take-over in between finds its name and takes the message for possibly
      // sent. Any later call is stamped now, and refused once another bridge took the pass over.
      const stampedWithClaim = leads && lead.admission.granted && lead.admission.waitMs === 0;
      if (
        !stampedWithClaim &&
        !(await claim.calling(planned.provider, handoverMarker(planned.provider, message)))
      ) {
        await this.options.gate.refund(planned.provider, tpsLimit(planned, message));
        return {};
      }
      const requestedAt = this.now();
      prefetched.called = true;
      const outcome = await awaitAnswer(this.calls.send(planned, message, body));
      if (!(outcome instanceof ProviderError)) {
        const accepted: Acceptance = {
          provider: planned.provider,
          result: outcome.result,
          latencyMs: outcome.latencyMs,
          attempt: state.attempts,
          requestedAt,
          costPerMessage: planned.costPerMessage,
          failover: extra?.failover,
        };
        return this.withRefusals(message, state, this.submitted(message, accepted, claim));
      }
      const error = outcome;
      state.lastError = error;
      // A permanent rejection (bad number, opt-out, fraud block) would be refused anywhere.
      if (!isRetriable(error)) {
        return this.withRefusals(
          message,
          state,
          this.failed(
            message,
            {
              status: 'failed',
              errorClass: error.errorClass,
              errorCode: error.rawCode,
              reason: error.message,
            },
            { provider: planned.provider, attempt: state.attempts, requestedAt },
          ),
        );
      }
      const refusal: Refusal = {
        provider: planned.provider,
        attempt: state.attempts,
        error,
        requestedAt,
        latencyMs: this.now() - requestedAt,
      };
      state.refusals.push(refusal);
      if (error.errorClass === 'throttled' && error.retryAfterMs !== undefined) {
        await this.options.gate.pause(planned.provider, this.now() + error.retryAfterMs);
      }
      if (error.sent === 'maybe') {
        state.ambiguous = refusal;
        // The provider may have taken it: bulk and transactional traffic is never sent
        // elsewhere; urgent traffic may fail over (once by default), since a duplicate code
        // beats no code.
        if (state.ambiguousLeft <= 0) break;
        state.ambiguousLeft--;
        state.excluded.add(planned.provider);
      }
    }

    if (state.ambiguous) {
      const { error, provider, attempt, requestedAt } = state.ambiguous;
      const failed = this.failed(
        message,
        { status: 'unknown', errorClass: 'ambiguous', errorCode: error.rawCode, reason: error.message },
        { provider, attempt, requestedAt },
      );
      return this.withRefusals(message, state, failed, attempt);
    }
    if (pass.kind === 'receipt-check') return this.withRefusals(message, state, {});
    if (this.now() >= Date.parse(message.expiresAt)) {
      const expired = this.failed(
        message,
        {
          status: 'expired',
          errorClass: 'expired',
          errorCode: 'EXPIRED',
          reason: 'expired before a provider took it',
        },
        { attempt: state.attempts },
      );
      return this.withRefusals(message, state, expired);
    }
    return this.withRefusals(message, state, this.scheduleRetry(message, pass, state));
  }

  /**
   * Adds an `attempt.failed` event for every call of the pass its outcome does not report (the
   * outcome reports the last call, or `reported`), so each call gets its attempt record.
   */
  private withRefusals(
    message: MessageRequested,
    state: Walk,
    result: PassResult,
    reported?: number,
  ): PassResult {
    const refusals = state.refusals.filter((r) => r.attempt !== reported);
    if (refusals.length === 0) return result;
    result.attempts = refusals.map((r) => attemptFailed(message, r, this.now()));
    return result;
  }

  private submitted(message: MessageRequested, accepted: Acceptance, claim: PassClaim): PassResult {
    const { result, provider, failover } = accepted;
    const parts = result.partIds && result.partIds.length > 0 ? result.partIds : [result.providerMessageId];
    // Written with the result, ahead of it: receipts are matched by it from then on.
    claim.beforeResult(() => recordAcceptance(this.options.cache, provider, message, parts));
    this.results.inc({ result: failover ? `submitted_${failover}` : 'submitted', class: message.class });
    const outcome: PassResult = { outcome: messageSubmitted(message, accepted, this.now()) };
    const timeoutMs = this.receiptTimeoutFor(message);
    if (!failover && timeoutMs > 0) {
      outcome.followUp = this.followUp(message, {
        kind: 'receipt-check',
        round: 1,
        dueAt: this.now() + timeoutMs,
        exclude: [provider],
        attempts: accepted.attempt,
      });
    }
    return outcome;
  }

  private receiptTimeoutFor(message: MessageRequested): number {
    const timeouts = this.options.receiptTimeoutMs ?? { otp: 20_000, alert: 20_000 };
    if (message.class === 'otp') return timeouts.otp;
    if (message.class === 'alert') return timeouts.alert;
    return 0;
  }

  /** Every provider refused without sending: try again later, until expiry or the round limit. */
  private scheduleRetry(message: MessageRequested, pass: Pass, state: Walk): PassResult {
    const { round, refusedRounds, step } = nextRound(pass, state.attempts > pass.attemptsSoFar);
    const maxRounds = this.options.maxRounds ?? DEFAULT_MAX_ROUNDS;
    const lastCode = state.lastError?.rawCode ?? 'NO_PROVIDER_AVAILABLE';
    if (refusedRounds > maxRounds) {
      const reason = `no provider took it in ${maxRounds} rounds (last: ${lastCode})`;
      const result = this.failed(
        message,
        { status: 'failed', errorClass: 'retries_exhausted', errorCode: lastCode, reason },
        { attempt: state.attempts },
      );
      result.dlq = {
        key: message.messageId,
        value: JSON.stringify(message),
        headers: { reason, source: 'supplier-bridge', rounds: String(maxRounds) },
      };
      return result;
    }
    const expiresAt = Date.parse(message.expiresAt);
    // The round due at expiry fails the message as expired: it never goes out late.
    const dueAt = Math.min(this.now() + backoffDelay(step, ROUND_BACKOFF, this.random), expiresAt);
    this.results.inc({ result: 'retry_scheduled', class: message.class });
    return {
      followUp: this.followUp(message, {
        kind: 'retry',
        round,
        refusedRounds,
        dueAt,
        exclude: [...pass.exclude],
        attempts: state.attempts,
      }),
    };
  }

  private followUp(message: MessageRequested, next: NextPass): PassResult['followUp'] {
    return followUpRecord(message, next, this.now());
  }

  private failed(message: MessageRequested, failure: Failure, where: FailedAt = {}): PassResult {
    this.results.inc({ result: failure.status, class: message.class });
    return { outcome: messageFailed(message, failure, where, this.now()) };
  }

  async close(): Promise<void> {
    this.breakers.close();
  }
}
