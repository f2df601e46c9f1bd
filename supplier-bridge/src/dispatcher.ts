import CircuitBreaker from 'opossum';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Cache } from '../../core/cache/cache.ts';
import { eventBase } from '../../core/events.ts';
import type { Logger } from '../../core/logger.ts';
import { MARKER_TTL_MS, Markers } from '../../core/markers.ts';
import type { MessageFailed, MessageRequested, MessageSubmitted, OutcomeEvent } from '../../core/message.ts';
import {
  type ProviderAdapter,
  ProviderError,
  type SendRequest,
  type SendResult,
} from '../providers/provider.ts';
import type { ConfiguredProvider } from '../providers/registry.ts';
import { orderCandidates } from './routing.ts';

export interface DispatcherOptions {
  providers: readonly ConfiguredProvider[];
  cache: Cache;
  logger: Logger;
  registry: Registry;
  /** Base URL of the gateway's receipt webhooks, e.g. http://127.0.0.1:3000. */
  publicUrl: string;
  sendTimeoutMs?: number;
  breaker?: { errorThresholdPercentage?: number; volumeThreshold?: number; resetTimeout?: number };
  random?: () => number;
  now?: () => number;
}

/**
 * The broker's append clock may run ahead of the API's: a record is refused by deadline only when
 * it landed clearly late, so an accepted message is never refused. The API's abort marker covers
 * records that land inside this tolerance after a 503.
 */
const ACCEPT_CLOCK_TOLERANCE_MS = 1_000;
const CERTAIN_NON_SEND = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET_BEFORE_WRITE']);

type BreakerState = 0 | 1 | 2;

/**
 * Turns one requested message into one outcome: checks that it may still be sent, claims it so a
 * crashed and restarted bridge never sends it twice, and tries providers in weighted order through
 * each provider's circuit breaker until one accepts or the failure is permanent.
 */
export class Dispatcher {
  private readonly breakers = new Map<string, CircuitBreaker<[SendRequest, AbortSignal], SendResult>>();
  private readonly adapters = new Map<string, ProviderAdapter>();
  private readonly sends: Counter<'provider' | 'outcome'>;
  private readonly sendSeconds: Histogram<'provider'>;
  private readonly results: Counter<'result' | 'class'>;
  private readonly breakerState: Gauge<'provider'>;
  private readonly now: () => number;

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
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
      help: 'Messages handled by the bridge by result',
      labelNames: ['result', 'class'],
      registers: [r],
    });
    this.breakerState = new Gauge({
      name: 'pigeon_bridge_breaker_state',
      help: 'Circuit breaker state per provider: 0 closed, 1 half-open, 2 open',
      labelNames: ['provider'],
      registers: [r],
    });
    for (const { adapter } of options.providers) this.addBreaker(adapter);
  }

  private addBreaker(adapter: ProviderAdapter): void {
    const b = this.options.breaker ?? {};
    const breaker = new CircuitBreaker((req: SendRequest, signal: AbortSignal) => adapter.send(req, signal), {
      name: adapter.name,
      // The call's own AbortSignal enforces the timeout so the HTTP request is really cancelled.
      timeout: false,
      errorThresholdPercentage: b.errorThresholdPercentage ?? 50,
      volumeThreshold: b.volumeThreshold ?? 10,
      resetTimeout: b.resetTimeout ?? 5_000,
      rollingCountTimeout: 10_000,
      // A permanent rejection says nothing about the provider's health.
      errorFilter: (err: unknown) => err instanceof ProviderError && !err.isProviderFault,
    });
    const setState = (state: BreakerState) => this.breakerState.set({ provider: adapter.name }, state);
    breaker.on('open', () => {
      setState(2);
      this.options.logger.warn({ provider: adapter.name }, 'breaker.open');
    });
    breaker.on('halfOpen', () => setState(1));
    breaker.on('close', () => {
      setState(0);
      this.options.logger.info({ provider: adapter.name }, 'breaker.close');
    });
    setState(0);
    this.breakers.set(adapter.name, breaker);
    this.adapters.set(adapter.name, adapter);
  }

  /**
   * Resolves to the outcome to publish, or undefined when nothing may be published (a crashed
   * bridge's in-flight attempt whose result is unknown: it is not sent again).
   */
  async dispatch(message: MessageRequested, appendedAt: number): Promise<OutcomeEvent | undefined> {
    const { cache } = this.options;
    // Claimed first, and every outcome stored under the claim, so a replayed batch republishes
    // the very same event (same id) whatever the outcome was.
    const claimed = await cache.set(Markers.attempt(message.messageId), String(this.now()), {
      nx: true,
      ttlMs: MARKER_TTL_MS,
    });
    if (!claimed) {
      const previous = await cache.get(Markers.result(message.messageId));
      if (previous !== undefined) return JSON.parse(previous) as OutcomeEvent;
      this.results.inc({ result: 'in_flight_at_crash', class: message.class });
      this.options.logger.warn({ messageId: message.messageId }, 'bridge.attempt_already_claimed');
      return undefined;
    }
    const outcome = await this.decide(message, appendedAt);
    await cache.set(Markers.result(message.messageId), JSON.stringify(outcome), { ttlMs: MARKER_TTL_MS });
    return outcome;
  }

  private async decide(message: MessageRequested, appendedAt: number): Promise<OutcomeEvent> {
    if (appendedAt > Date.parse(message.acceptDeadline) + ACCEPT_CLOCK_TOLERANCE_MS) {
      return this.fail(
        message,
        'rejected',
        'accept_timeout',
        'ACCEPT_DEADLINE',
        'appended after the API gave up',
      );
    }
    if ((await this.options.cache.get(Markers.abort(message.messageId))) !== undefined) {
      return this.fail(
        message,
        'rejected',
        'accept_timeout',
        'ABORTED',
        'the API answered 503 for this message',
      );
    }
    if (this.now() >= Date.parse(message.expiresAt)) {
      return this.fail(message, 'expired', 'expired', 'EXPIRED', 'expired before it could be sent');
    }
    return this.sendThroughProviders(message);
  }

  private async sendThroughProviders(message: MessageRequested): Promise<OutcomeEvent> {
    const order = orderCandidates(
      this.options.providers.map((p) => ({ name: p.adapter.name, weight: p.weight })),
      this.options.random,
    );
    let attempt = 0;
    let lastError: ProviderError | undefined;
    let ambiguousFailovers = 0;
    for (const providerName of order) {
      attempt++;
      const breaker = this.breakers.get(providerName)!;
      const request: SendRequest = {
        messageId: message.messageId,
        tenantId: message.tenantId,
        to: message.to,
        from: message.from,
        body: message.body,
        segments: message.segments,
        callbackUrl: `${this.options.publicUrl}/v1/receipts/${encodeURIComponent(providerName)}`,
      };
      const started = performance.now();
      try {
        const signal = AbortSignal.timeout(this.options.sendTimeoutMs ?? 10_000);
        const result = await Promise.race([breaker.fire(request, signal), rejectWhenAborted(signal)]).catch(
          (err: unknown) => {
            throw toProviderError(err, signal);
          },
        );
        const latencyMs = performance.now() - started;
        this.sendSeconds.observe({ provider: providerName }, latencyMs / 1000);
        this.sends.inc({ provider: providerName, outcome: 'accepted' });
        await this.options.cache.set(
          Markers.providerMessage(providerName, result.providerMessageId),
          JSON.stringify({ messageId: message.messageId, tenantId: message.tenantId }),
          { ttlMs: MARKER_TTL_MS },
        );
        this.results.inc({ result: 'submitted', class: message.class });
        const submitted: MessageSubmitted = {
          ...eventBase(message.messageId, message.tenantId, this.now()),
          type: 'message.submitted',
          provider: providerName,
          providerMessageId: result.providerMessageId,
          attempt,
          segments: result.segments ?? message.segments,
          cost: result.cost ?? 0,
          latencyMs: Math.round(latencyMs * 100) / 100,
        };
        if (message.country) submitted.country = message.country;
        return submitted;
      } catch (err) {
        const error = err as ProviderError;
        lastError = error;
        this.sends.inc({ provider: providerName, outcome: error.errorClass });
        this.options.logger.warn(
          {
            provider: providerName,
            messageId: message.messageId,
            errorClass: error.errorClass,
            code: error.rawCode,
          },
          'bridge.send_failed',
        );
        if (!error.isProviderFault) {
          return this.fail(
            message,
            'failed',
            error.errorClass,
            error.rawCode,
            error.message,
            providerName,
            attempt,
          );
        }
        if (error.sent === 'maybe') {
          // The provider may have taken it: bulk traffic is never sent elsewhere; urgent
          // traffic may fail over once, since a duplicate code beats no code.
          const urgent = message.class === 'otp' || message.class === 'alert';
          if (!urgent || ambiguousFailovers >= 1) {
            return this.fail(
              message,
              'failed',
              'ambiguous',
              error.rawCode,
              error.message,
              providerName,
              attempt,
            );
          }
          ambiguousFailovers++;
        }
      }
    }
    return this.fail(
      message,
      'failed',
      lastError?.errorClass ?? 'retryable',
      lastError?.rawCode ?? 'NO_PROVIDER',
      'all providers failed',
      undefined,
      attempt,
    );
  }

  private fail(
    message: MessageRequested,
    status: MessageFailed['status'],
    errorClass: string,
    errorCode: string,
    reason: string,
    provider?: string,
    attempt = 0,
  ): MessageFailed {
    this.results.inc({ result: status, class: message.class });
    const failed: MessageFailed = {
      ...eventBase(message.messageId, message.tenantId, this.now()),
      type: 'message.failed',
      status,
      attempt,
      errorClass,
      errorCode,
      reason,
    };
    if (provider) failed.provider = provider;
    if (message.country) failed.country = message.country;
    return failed;
  }

  async close(): Promise<void> {
    for (const breaker of this.breakers.values()) breaker.shutdown();
    await Promise.all([...this.adapters.values()].map((a) => a.close?.() ?? Promise.resolve()));
  }
}

/** Settles a send at its timeout even when the adapter ignores the signal and never answers. */
function rejectWhenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

function toProviderError(err: unknown, signal: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  const code = (err as { code?: string }).code;
  if (code === 'EOPENBREAKER')
    return new ProviderError('retryable', 'BREAKER_OPEN', 'breaker open', { cause: err });
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
