import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../../core/logger.ts';
import type { MessageRequested } from '../../../core/message.ts';
import { ProviderError, type SendRequest, type SendResult } from '../../../providers/provider.ts';
import type { PlannedProvider } from '../../../routing/planner.ts';
import type { BreakerRegistry } from './breakers.ts';
import { BridgeEvents } from '../events.ts';

export interface ProviderCallsOptions {
  breakers: BreakerRegistry;
  logger: Logger;
  registry: Registry;
  /** Base URL of the gateway's receipt webhooks, e.g. http://127.0.0.1:3000. */
  publicUrl: string;
  /** Timeout of a send whose provider definition names none. */
  sendTimeoutMs: number;
}

/** A send that a provider accepted, with how long the call took. */
export interface Accepted {
  result: SendResult;
  latencyMs: number;
}

/**
 * One provider call through its breaker, with a timeout that really cancels it: every failure
 * comes back as a ProviderError that says whether the provider may have sent the message.
 */
export class ProviderCalls {
  private readonly sends: Counter<'provider' | 'outcome'>;
  private readonly sendSeconds: Histogram<'provider'>;

  constructor(private readonly options: ProviderCallsOptions) {
    this.sends = new Counter({
      name: 'pigeon_bridge_provider_sends_total',
      help: 'Provider send calls by outcome class',
      labelNames: ['provider', 'outcome'],
      registers: [options.registry],
    });
    this.sendSeconds = new Histogram({
      name: 'pigeon_bridge_provider_send_seconds',
      help: 'Provider send call latency',
      labelNames: ['provider'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [options.registry],
    });
  }

  async send(
    planned: PlannedProvider,
    message: MessageRequested,
    body: string,
  ): Promise<Accepted | ProviderError> {
    const breaker = this.options.breakers.breakerFor(planned, message.country);
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
    const timeoutMs = planned.definition.breaker?.timeoutMs ?? this.options.sendTimeoutMs;
    const deadline = sendDeadline(timeoutMs);
    const { signal } = deadline;
    try {
      const result = await Promise.race([breaker.fire(request, signal), deadline.expired]);
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
        BridgeEvents.sendFailed,
      );
      return error;
    } finally {
      deadline.clear();
    }
  }
}

/**
 * A send's timeout: `signal` aborts the adapter's request and `expired` settles the send even when
 * the adapter ignores the signal and never answers. Cleared when the send settles: an
 * `AbortSignal.timeout` cannot be, and firing it later for every message sent (a TimeoutError
 * built and an abort dispatched each time) was 1 % of the bridge's CPU.
 */
function sendDeadline(timeoutMs: number): { signal: AbortSignal; expired: Promise<never>; clear(): void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const reason = new DOMException(`provider did not answer within ${timeoutMs} ms`, 'TimeoutError');
      controller.abort(reason);
      reject(reason);
    }, timeoutMs);
  });
  // Raced, or never rejected at all: no unhandled rejection either way.
  expired.catch(() => undefined);
  return { signal: controller.signal, expired, clear: () => clearTimeout(timer) };
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
