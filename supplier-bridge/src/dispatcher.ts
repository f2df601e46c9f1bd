import { setTimeout as sleep } from 'node:timers/promises';
import CircuitBreaker from 'opossum';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BusRecord } from '../../core/bus/bus.ts';
import type { Cache } from '../../core/cache/cache.ts';
import { eventBase } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import { MARKER_TTL_MS, Markers } from '../../core/markers.ts';
import type {
  AttemptFailed,
  MessageFailed,
  MessageRequested,
  MessageSubmitted,
  OutcomeEvent,
} from '../../core/message.ts';
import { delayTopicFor } from '../../core/topics.ts';
import {
  type ProviderAdapter,
  ProviderError,
  type SendRequest,
  type SendResult,
} from '../../providers/provider.ts';
import type { BreakerSettings } from '../../providers/registry.ts';
import type { ProviderGate } from './provider-gate.ts';
import type { PlannedProvider, RoutePlanner } from '../../routing/planner.ts';
import { DEFAULT_MAX_ROUNDS, RetryBudget, retryDelayMs } from './retry-policy.ts';

/**
 * Which pass over a message this is. `send`: its first delivery from a lane. `retry`: a later
 * round after every provider refused without sending. `receipt-check`: an OTP or alert submitted
 * earlier whose delivered receipt may be overdue.
 */
export type PassKind = 'send' | 'retry' | 'receipt-check';

export interface Pass {
  kind: PassKind;
  /** 0 for the first send; n for the n-th retry round or receipt check. */
  round: number;
  /** Broker append time of the record (for the accept-deadline check). */
  appendedAt: number;
  /** Providers not to use: tried ambiguously already, or the one whose receipt never came. */
  exclude: readonly string[];
  /** Provider calls made for this message in earlier passes. */
  attemptsSoFar: number;
  /**
   * Earlier passes that called a provider and were refused. These set the retry wait and the
   * DLQ limit; a pass that called nobody (every breaker open, every gate shut) does not count.
   * Absent on a first send (0) and on records written before it existed (then `round`).
   */
  refusedRounds?: number;
}

/** Everything one pass decides; stored whole so a replay republishes exactly the same records. */
export interface PassResult {
  /** Calls of the pass that did not take the message while it went on; published before `outcome`. */
  attempts?: AttemptFailed[];
  outcome?: OutcomeEvent;
  /** A record for a delay topic: the next retry round or a receipt check. */
  followUp?: { topic: string; record: BusRecord };
  dlq?: BusRecord;
  /** The pass cannot run yet (another bridge may still be on it): ask again at this time. */
  notBefore?: number;
}

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
  random?: () => number;
  now?: () => number;
}

/**
 * The broker's append clock may run ahead of the API's: a record is refused by deadline only when
 * it landed clearly late, so an accepted message is never refused. The API's abort marker covers
 * records that land inside this tolerance after a 503.
 */
const ACCEPT_CLOCK_TOLERANCE_MS = 1_000;
const DEFAULT_SEND_TIMEOUT_MS = 10_000;

export const PASS_HEADERS = {
  kind: 'pigeon-pass',
  round: 'pigeon-round',
  due: 'pigeon-due',
  exclude: 'pigeon-exclude',
  attempts: 'pigeon-attempts',
  refusedRounds: 'pigeon-refused-rounds',
} as const;

/** While no provider is even called, the wait grows only this far: a returning provider is found soon. */
const MAX_IDLE_RETRY_STEP = 3;

type Breaker = CircuitBreaker<[SendRequest, AbortSignal], SendResult>;
type BreakerState = 0 | 1 | 2;

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

/** A provider call that did not take the message. */
interface Refusal {
  provider: string;
  attempt: number;
  error: ProviderError;
  requestedAt: number;
  latencyMs: number;
}

const isUrgent = (message: MessageRequested) => message.class === 'otp' || message.class === 'alert';

/**
 * Turns one pass over a requested message into its outcome: checks that it may still be sent,
 * claims the pass so a crashed and restarted bridge never sends twice what a provider accepted,
 * and walks the planned providers through their gates and circuit breakers until one accepts, the
 * failure is permanent, or every provider refused without sending (then a later round is
 * scheduled on a delay topic, until the message expires).
 */
export class Dispatcher {
  private readonly breakers = new Map<string, Breaker>();
  /** The adapter each breaker calls: a provider redefined at runtime gets a new one. */
  private readonly breakerAdapters = new WeakMap<Breaker, ProviderAdapter>();
  private readonly sends: Counter<'provider' | 'outcome'>;
  private readonly sendSeconds: Histogram<'provider'>;
  private readonly results: Counter<'result' | 'class'>;
  private readonly skips: Counter<'provider' | 'reason'>;
  private readonly breakerState: Gauge<'breaker'>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly budget: RetryBudget;

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.budget = options.retryBudget ?? new RetryBudget({ now: this.now });
    const r = options.registry;
    this.sends = new Counter({
      name: 'pigeon_bridge_provider_sends_total',
      help: 'Provider send calls by outcome class',
      labelNames: ['provider', 'outcome'],
      registers: [r],
    });
    this.sendSeconds = new Histogram({
      name: 'pigeon_bridge_provider_send_seconds',
      help: 'Provider send call latency',
      labelNames: ['provider'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.results = new Counter({
      name: 'pigeon_bridge_messages_total',
      help: 'Passes over messages by result (submitted, failed, retry_scheduled, …)',
      labelNames: ['result', 'class'],
      registers: [r],
    });
    this.skips = new Counter({
      name: 'pigeon_bridge_provider_skips_total',
      help: 'Providers passed over without a call: paused, rate-limited, out of retry budget',
      labelNames: ['provider', 'reason'],
      registers: [r],
    });
    this.breakerState = new Gauge({
      name: 'pigeon_bridge_breaker_state',
      help: 'Circuit breaker state per provider (or provider:country): 0 closed, 1 half-open, 2 open',
      labelNames: ['breaker'],
      registers: [r],
    });
  }

  /** True when the breaker that would carry this provider's traffic to `country` is open. */
  breakerOpen = (provider: string, country: string | undefined): boolean => {
    const breaker = this.breakers.get(`${provider}:${country ?? '*'}`) ?? this.breakers.get(`${provider}:*`);
    return breaker?.opened ?? false;
  };

  /** State of every breaker (`provider:country` or `provider:*`): 0 closed, 1 half-open, 2 open; for heartbeats. */
  breakerStates(): Record<string, number> {
    const states: Record<string, number> = {};
    for (const [key, breaker] of this.breakers) {
      states[key] = breaker.opened ? 2 : breaker.halfOpen ? 1 : 0;
    }
    return states;
  }

  private breakerFor(planned: PlannedProvider, country: string | undefined): Breaker {
    const settings = { ...this.options.breaker, ...planned.definition.breaker };
    const key = `${planned.provider}:${settings.perCountry ? (country ?? '*') : '*'}`;
    const existing = this.breakers.get(key);
    // A provider redefined at runtime gets a new adapter; its breaker must call the new one.
    if (existing && this.breakerAdapters.get(existing) === planned.adapter) return existing;
    existing?.shutdown();
    const adapter = planned.adapter;
    const breaker: Breaker = new CircuitBreaker(
      (req: SendRequest, signal: AbortSignal) => adapter.send(req, signal),
      {
        name: key,
        // The call's own AbortSignal enforces the timeout so the HTTP request is really cancelled.
        timeout: false,
        errorThresholdPercentage: settings.errorThresholdPercentage ?? 50,
        volumeThreshold: settings.volumeThreshold ?? 10,
        resetTimeout: settings.resetTimeoutMs ?? 5_000,
        rollingCountTimeout: 10_000,
        // A permanent rejection says nothing about the provider's health.
        errorFilter: (err: unknown) => err instanceof ProviderError && !err.isProviderFault,
      },
    );
    this.breakerAdapters.set(breaker, adapter);
    const setState = (state: BreakerState) => this.breakerState.set({ breaker: key }, state);
    breaker.on('open', () => {
      setState(2);
      this.options.logger.warn({ breaker: key }, 'breaker.open');
    });
    breaker.on('halfOpen', () => {
      setState(1);
      this.options.logger.info({ breaker: key }, 'breaker.half_open');
    });
    breaker.on('close', () => {
      setState(0);
      this.options.logger.info({ breaker: key }, 'breaker.close');
    });
    setState(0);
    this.breakers.set(key, breaker);
    return breaker;
  }

  /** Runs one pass exactly once across crashes and replays; see PassResult. */
  async dispatch(message: MessageRequested, pass: Pass): Promise<PassResult> {
    const { cache } = this.options;
    const passKey = `${pass.kind}:${pass.round}`;
    const attemptKey = Markers.attempt(message.messageId, passKey);
    // Claimed first, and every result stored under the claim, so a replayed batch republishes
    // the very same records (same event ids) whatever the pass decided.
    const claimed = await cache.set(attemptKey, JSON.stringify({ at: this.now() }), {
      nx: true,
      ttlMs: MARKER_TTL_MS,
    });
    let result: PassResult;
    if (claimed) {
      result = await this.decide(message, pass, attemptKey);
    } else {
      const previous = await cache.get(Markers.result(message.messageId, passKey));
      if (previous !== undefined) return JSON.parse(previous) as PassResult;
      result = await this.recover(message, pass, attemptKey, passKey);
      if (result.notBefore !== undefined) return result;
    }
    await cache.set(Markers.result(message.messageId, passKey), JSON.stringify(result), {
      ttlMs: MARKER_TTL_MS,
    });
    return result;
  }

  /**
   * A pass claimed by a bridge that died before storing its result. If it never reached a
   * provider, it is run again once nobody can still be on it. If a provider may have the message,
   * bulk and transactional traffic is never sent again (it ends `unknown` unless a receipt comes);
   * an OTP or alert gets exactly one more copy through another provider.
   */
  private async recover(
    message: MessageRequested,
    pass: Pass,
    attemptKey: string,
    passKey: string,
  ): Promise<PassResult> {
    const { cache } = this.options;
    const raw = await cache.get(attemptKey);
    const claim = raw ? (JSON.parse(raw) as { at: number; provider?: string }) : { at: 0 };
    if (!claim.provider && this.now() < this.leaseEnd(claim.at))
      return { notBefore: this.leaseEnd(claim.at) };
    const recoveryKey = Markers.recovery(message.messageId, passKey);
    const first = await cache.set(recoveryKey, String(this.now()), { nx: true, ttlMs: MARKER_TTL_MS });
    if (!first) {
      const previous = await cache.get(Markers.result(message.messageId, passKey));
      if (previous) return JSON.parse(previous) as PassResult;
      const recoveringSince = Number((await cache.get(recoveryKey)) ?? 0);
      if (this.now() < this.leaseEnd(recoveringSince)) return { notBefore: this.leaseEnd(recoveringSince) };
      // The recovery was cut off too. Whatever it may have sent stands; nothing more goes out.
      this.results.inc({ result: 'in_flight_at_crash', class: message.class });
      return this.failed(
        message,
        'unknown',
        'ambiguous',
        'CRASH_IN_RECOVERY',
        'bridge stopped while recovering',
        {
          provider: claim.provider,
          attempt: pass.attemptsSoFar + 1,
        },
      );
    }
    this.results.inc({ result: 'in_flight_at_crash', class: message.class });
    this.options.logger.warn(
      { messageId: message.messageId, provider: claim.provider, pass: passKey },
      'bridge.recovering_crashed_pass',
    );
    if (!claim.provider) return this.decide(message, pass, attemptKey);
    if (!isUrgent(message)) {
      return this.failed(message, 'unknown', 'ambiguous', 'CRASH_IN_FLIGHT', 'bridge stopped mid-send', {
        provider: claim.provider,
        attempt: pass.attemptsSoFar + 1,
        // The claim was stamped just before that provider was called.
        requestedAt: claim.at,
      });
    }
    return this.decide(
      message,
      { ...pass, exclude: [...pass.exclude, claim.provider], attemptsSoFar: pass.attemptsSoFar + 1 },
      attemptKey,
      { failover: 'crash_recovery', ambiguousLeft: 0 },
    );
  }

  /**
   * Until when a claim (or a recovery) stamped at `at` may still be worked on by a live bridge:
   * it records its provider just before each call, so without one after a send timeout and some
   * slack, nobody is calling a provider for it.
   */
  private leaseEnd(at: number): number {
    return at + 2 * this.maxSendTimeoutMs() + 5_000;
  }

  private maxSendTimeoutMs(): number {
    return this.options.breaker?.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  }

  private async decide(
    message: MessageRequested,
    pass: Pass,
    attemptKey: string,
    recovery?: { failover: string; ambiguousLeft: number },
  ): Promise<PassResult> {
    const { cache } = this.options;
    if (pass.kind === 'send' && pass.round === 0) {
      if (pass.appendedAt > Date.parse(message.acceptDeadline) + ACCEPT_CLOCK_TOLERANCE_MS) {
        return this.failed(
          message,
          'rejected',
          'accept_timeout',
          'ACCEPT_DEADLINE',
          'appended after the API gave up',
        );
      }
      if ((await cache.get(Markers.abort(message.messageId))) !== undefined) {
        return this.failed(
          message,
          'rejected',
          'accept_timeout',
          'ABORTED',
          'the API answered 503 for this message',
        );
      }
    }
    if (pass.kind === 'receipt-check') {
      if ((await cache.get(Markers.delivered(message.messageId))) !== undefined) return {};
      // Past expiry the first copy stands: a late code is useless and a second one more so.
      if (this.now() >= Date.parse(message.expiresAt)) return {};
      this.results.inc({ result: 'receipt_timeout', class: message.class });
      return this.walk(message, pass, attemptKey, { failover: 'receipt_timeout', ambiguousLeft: 0 });
    }
    if (this.now() >= Date.parse(message.expiresAt)) {
      return this.failed(message, 'expired', 'expired', 'EXPIRED', 'expired before it could be sent', {
        attempt: pass.attemptsSoFar,
      });
    }
    return this.walk(message, pass, attemptKey, recovery);
  }

  /** Tries the planned providers in order; see the class comment for the rules. */
  private async walk(
    message: MessageRequested,
    pass: Pass,
    attemptKey: string,
    extra?: { failover: string; ambiguousLeft: number },
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
    const plan = this.options.planner
      .plan(message, { breakerOpen: this.breakerOpen })
      .filter((p) => !state.excluded.has(p.provider));
    const body = this.options.openBody ? this.options.openBody(message.body) : message.body;

    for (const planned of plan) {
      if (this.now() >= Date.parse(message.expiresAt)) break;
      // An open breaker would refuse the call anyway: skip it before it spends a token or budget.
      if (this.breakerOpen(planned.provider, message.country)) {
        this.skips.inc({ provider: planned.provider, reason: 'breaker_open' });
        state.lastError ??= new ProviderError('retryable', 'BREAKER_OPEN', 'breaker open');
        continue;
      }
      if (!(await this.admit(planned, message, pass))) continue;
      state.attempts++;
      await this.options.cache.set(
        attemptKey,
        JSON.stringify({ at: this.now(), provider: planned.provider }),
        { ttlMs: MARKER_TTL_MS },
      );
      const requestedAt = this.now();
      const outcome = await this.callProvider(planned, message, body);
      if (!(outcome instanceof ProviderError)) {
        return this.withRefusals(
          message,
          state,
          await this.submitted(
            message,
            planned,
            outcome.result,
            outcome.latencyMs,
            state.attempts,
            extra?.failover,
            requestedAt,
          ),
        );
      }
      const error = outcome;
      state.lastError = error;
      if (!error.isProviderFault) {
        return this.withRefusals(
          message,
          state,
          this.failed(message, 'failed', error.errorClass, error.rawCode, error.message, {
            provider: planned.provider,
            attempt: state.attempts,
            requestedAt,
          }),
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
      const failed = this.failed(message, 'unknown', 'ambiguous', error.rawCode, error.message, {
        provider,
        attempt,
        requestedAt,
      });
      return this.withRefusals(message, state, failed, attempt);
    }
    if (pass.kind === 'receipt-check') return this.withRefusals(message, state, {});
    if (this.now() >= Date.parse(message.expiresAt)) {
      const expired = this.failed(
        message,
        'expired',
        'expired',
        'EXPIRED',
        'expired before a provider took it',
        {
          attempt: state.attempts,
        },
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
    result.attempts = refusals.map((r) => {
      const event: AttemptFailed = {
        ...eventBase(message.messageId, message.tenantId, this.now()),
        type: 'attempt.failed',
        provider: r.provider,
        attempt: r.attempt,
        errorClass: r.error.errorClass,
        errorCode: r.error.rawCode,
        reason: r.error.message,
        sent: r.error.sent === 'maybe' ? 'maybe' : 'no',
        requestedAt: new Date(r.requestedAt).toISOString(),
        latencyMs: r.latencyMs,
        class: message.class,
      };
      if (message.country) event.country = message.country;
      return event;
    });
    return result;
  }

  /** Rate limit, 429 pause and retry budget: may this provider be called for this message now? */
  private async admit(planned: PlannedProvider, message: MessageRequested, pass: Pass): Promise<boolean> {
    const maxWait = this.options.maxGateWaitMs ?? 1_000;
    const limit = { tps: planned.definition.tps, lane: message.lane };
    let waited = 0;
    for (;;) {
      const admission = await this.options.gate.acquire(planned.provider, limit, maxWait - waited);
      if (admission.granted) {
        if (admission.waitMs > 0) await sleep(admission.waitMs);
        break;
      }
      if (admission.retryInMs === undefined || waited + admission.retryInMs > maxWait) {
        this.skips.inc({
          provider: planned.provider,
          reason: admission.retryInMs === undefined ? 'paused' : 'rate_limited',
        });
        return false;
      }
      await sleep(admission.retryInMs);
      waited += admission.retryInMs;
    }
    if (pass.kind === 'send' && pass.round === 0) {
      this.budget.recordFirstAttempt(planned.provider);
    } else if (!this.budget.tryRetry(planned.provider)) {
      this.skips.inc({ provider: planned.provider, reason: 'retry_budget' });
      return false;
    }
    return true;
  }

  private async callProvider(
    planned: PlannedProvider,
    message: MessageRequested,
    body: string,
  ): Promise<{ result: SendResult; latencyMs: number } | ProviderError> {
    const breaker = this.breakerFor(planned, message.country);
    const request: SendRequest = {
      messageId: message.messageId,
      tenantId: message.tenantId,
      to: message.to,
      from: message.from ?? planned.senderId,
      body,
      segments: message.segments,
      messageClass: message.class,
      country: message.country,
      expiresAt: message.expiresAt,
      callbackUrl: `${this.options.publicUrl}/v1/receipts/${encodeURIComponent(planned.provider)}`,
    };
    const started = performance.now();
    const timeoutMs = planned.definition.breaker?.timeoutMs ?? this.maxSendTimeoutMs();
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const result = await Promise.race([breaker.fire(request, signal), rejectWhenAborted(signal)]);
      const latencyMs = performance.now() - started;
      this.sendSeconds.observe({ provider: planned.provider }, latencyMs / 1000);
      this.sends.inc({ provider: planned.provider, outcome: 'accepted' });
      return { result, latencyMs };
    } catch (err) {
      const error = toProviderError(err, signal);
      this.sends.inc({ provider: planned.provider, outcome: error.errorClass });
      this.options.logger.warn(
        {
          provider: planned.provider,
          messageId: message.messageId,
          errorClass: error.errorClass,
          code: error.rawCode,
          sent: error.sent,
        },
        'bridge.send_failed',
      );
      return error;
    }
  }

  private async submitted(
    message: MessageRequested,
    planned: PlannedProvider,
    result: SendResult,
    latencyMs: number,
    attempt: number,
    failover: string | undefined,
    requestedAt: number,
  ): Promise<PassResult> {
    const parts = result.partIds && result.partIds.length > 0 ? result.partIds : [result.providerMessageId];
    // Receipts come per part and often without our reference: every part id leads to the message.
    const owner = JSON.stringify(
      parts.length > 1
        ? { messageId: message.messageId, tenantId: message.tenantId, partIds: parts }
        : { messageId: message.messageId, tenantId: message.tenantId },
    );
    await Promise.all(
      parts.map((id) =>
        this.options.cache.set(Markers.providerMessage(planned.provider, id), owner, {
          ttlMs: MARKER_TTL_MS,
        }),
      ),
    );
    this.results.inc({ result: failover ? `submitted_${failover}` : 'submitted', class: message.class });
    const submitted: MessageSubmitted = {
      ...eventBase(message.messageId, message.tenantId, this.now()),
      type: 'message.submitted',
      provider: planned.provider,
      providerMessageId: result.providerMessageId,
      attempt,
      segments: result.segments ?? message.segments,
      // A failover copy is on us: the customer is billed for one message.
      cost: failover ? 0 : (result.cost ?? planned.costPerMessage),
      latencyMs: Math.round(latencyMs * 100) / 100,
    };
    if (message.country) submitted.country = message.country;
    if (failover) submitted.failover = failover;
    submitted.requestedAt = new Date(requestedAt).toISOString();
    submitted.class = message.class;
    const outcome: PassResult = { outcome: submitted };
    const timeoutMs = this.receiptTimeoutFor(message);
    if (!failover && timeoutMs > 0) {
      outcome.followUp = this.passRecord(message, {
        kind: 'receipt-check',
        round: 1,
        dueAt: this.now() + timeoutMs,
        exclude: [planned.provider],
        attempts: attempt,
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
    // `round` numbers the passes (each has its own markers); `refusedRounds` counts only those
    // that reached a provider. A pass skipped by open breakers waits at most the third step, so
    // messages held through an outage go out seconds after a provider is back, not after the
    // hour-long waits a provider that keeps refusing earns.
    const round = pass.kind === 'retry' ? pass.round + 1 : 1;
    const called = state.attempts > pass.attemptsSoFar;
    const refusedBefore = pass.kind === 'retry' ? (pass.refusedRounds ?? pass.round) : 0;
    const refusedRounds = refusedBefore + (called ? 1 : 0);
    const step = called ? refusedRounds : Math.min(Math.max(refusedRounds, round), MAX_IDLE_RETRY_STEP);
    const maxRounds = this.options.maxRounds ?? DEFAULT_MAX_ROUNDS;
    const lastCode = state.lastError?.rawCode ?? 'NO_PROVIDER_AVAILABLE';
    if (refusedRounds > maxRounds) {
      const reason = `no provider took it in ${maxRounds} rounds (last: ${lastCode})`;
      const result = this.failed(message, 'failed', 'retries_exhausted', lastCode, reason, {
        attempt: state.attempts,
      });
      result.dlq = {
        key: message.messageId,
        value: JSON.stringify(message),
        headers: { reason, source: 'supplier-bridge', rounds: String(maxRounds) },
      };
      return result;
    }
    const expiresAt = Date.parse(message.expiresAt);
    // The round due at expiry fails the message as expired: it never goes out late.
    const dueAt = Math.min(this.now() + retryDelayMs(step, this.random), expiresAt);
    this.results.inc({ result: 'retry_scheduled', class: message.class });
    return {
      followUp: this.passRecord(message, {
        kind: 'retry',
        round,
        refusedRounds,
        dueAt,
        exclude: [...pass.exclude],
        attempts: state.attempts,
      }),
    };
  }

  private passRecord(
    message: MessageRequested,
    next: {
      kind: PassKind;
      round: number;
      refusedRounds?: number;
      dueAt: number;
      exclude: string[];
      attempts: number;
    },
  ): { topic: string; record: BusRecord } {
    return {
      topic: delayTopicFor(next.dueAt - this.now()),
      record: {
        key: message.messageId,
        value: JSON.stringify(message),
        headers: {
          [PASS_HEADERS.kind]: next.kind,
          [PASS_HEADERS.round]: String(next.round),
          [PASS_HEADERS.due]: String(next.dueAt),
          [PASS_HEADERS.exclude]: next.exclude.join(','),
          [PASS_HEADERS.attempts]: String(next.attempts),
          ...(next.refusedRounds === undefined
            ? {}
            : { [PASS_HEADERS.refusedRounds]: String(next.refusedRounds) }),
        },
      },
    };
  }

  private failed(
    message: MessageRequested,
    status: MessageFailed['status'],
    errorClass: string,
    errorCode: string,
    reason: string,
    where: { provider?: string | undefined; attempt?: number; requestedAt?: number | undefined } = {},
  ): PassResult {
    this.results.inc({ result: status, class: message.class });
    const failed: MessageFailed = {
      ...eventBase(message.messageId, message.tenantId, this.now()),
      type: 'message.failed',
      status,
      attempt: where.attempt ?? 0,
      errorClass,
      errorCode,
      reason,
    };
    if (where.provider) failed.provider = where.provider;
    if (where.requestedAt !== undefined) failed.requestedAt = new Date(where.requestedAt).toISOString();
    if (message.country) failed.country = message.country;
    failed.class = message.class;
    return { outcome: failed };
  }

  async close(): Promise<void> {
    for (const breaker of this.breakers.values()) breaker.shutdown();
  }
}

/** Reads a pass back from a delay-topic record's headers. */
export function passFromHeaders(
  headers: Record<string, string> | undefined,
  appendedAt: number,
): (Pass & { dueAt: number }) | undefined {
  const kind = headers?.[PASS_HEADERS.kind];
  if (kind !== 'retry' && kind !== 'receipt-check') return undefined;
  const exclude = headers?.[PASS_HEADERS.exclude];
  const round = Number(headers?.[PASS_HEADERS.round] ?? 1);
  const refusedRounds = headers?.[PASS_HEADERS.refusedRounds];
  return {
    kind,
    round,
    refusedRounds: refusedRounds === undefined ? round : Number(refusedRounds),
    dueAt: Number(headers?.[PASS_HEADERS.due] ?? 0),
    appendedAt,
    exclude: exclude ? exclude.split(',') : [],
    attemptsSoFar: Number(headers?.[PASS_HEADERS.attempts] ?? 0),
  };
}

/** Settles a send at its timeout even when the adapter ignores the signal and never answers. */
function rejectWhenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

const CERTAIN_NON_SEND = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

function toProviderError(err: unknown, signal: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  const code = (err as { code?: string }).code;
  if (code === 'EOPENBREAKER') {
    return new ProviderError('retryable', 'BREAKER_OPEN', 'breaker open', { cause: err });
  }
  if (signal.aborted) {
    return new ProviderError('retryable', 'TIMEOUT', 'provider timed out', { sent: 'maybe', cause: err });
  }
  const causeCode = (err as { cause?: { code?: string } }).cause?.code ?? code;
  const sent = causeCode && CERTAIN_NON_SEND.has(causeCode) ? 'no' : 'maybe';
  return new ProviderError('retryable', causeCode ?? 'NETWORK', String((err as Error).message), {
    sent,
    cause: err,
  });
}
