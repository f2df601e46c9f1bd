import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import type { MessageRequested } from '../../../core/message.ts';
import type { PlannedProvider } from '../../../routing/planner.ts';
import type { Admission, ProviderGate, TpsLimit } from '../provider-gate.ts';
import type { Pass } from './pass.ts';
import type { RetryBudget } from './retry-rounds.ts';

export interface AdmissionOptions {
  gate: ProviderGate;
  budget: RetryBudget;
  registry: Registry;
  /** Longest a send waits for a provider's rate limit before trying the next provider. */
  maxGateWaitMs: number;
}

/** The gate's limit for sending this message through this provider. */
export const tpsLimit = (planned: PlannedProvider, message: MessageRequested): TpsLimit => ({
  tps: planned.definition.tps,
  lane: message.lane,
});

/** Why a provider was passed over without a call. */
export type SkipReason = 'breaker_open' | 'paused' | 'rate_limited' | 'retry_budget';

/** Whether a planned provider may be called for a message now, and a count of those passed over. */
export class AdmissionControl {
  private readonly skips: Counter<'provider' | 'reason'>;

  constructor(private readonly options: AdmissionOptions) {
    this.skips = new Counter({
      name: 'pigeon_bridge_provider_skips_total',
      help: 'Providers passed over without a call: paused, rate-limited, out of retry budget',
      labelNames: ['provider', 'reason'],
      registers: [options.registry],
    });
  }

  skipped(provider: string, reason: SkipReason): void {
    this.skips.inc({ provider, reason });
  }

  /** Rate limit, 429 pause and retry budget: may this provider be called for this message now? */
  async admit(
    planned: PlannedProvider,
    message: MessageRequested,
    pass: Pass,
    /** The gate's first answer, when the caller asked for it already (in its own pipeline). */
    first?: Admission,
  ): Promise<boolean> {
    const maxWait = this.options.maxGateWaitMs;
    const limit = tpsLimit(planned, message);
    let waited = 0;
    let answered = first;
    for (;;) {
      const admission =
        answered ?? (await this.options.gate.acquire(planned.provider, limit, maxWait - waited));
      answered = undefined;
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
    // A message released from quiet hours is on its first send, not a retry.
    if ((pass.kind === 'send' && pass.round === 0) || pass.kind === 'held') {
      this.options.budget.recordFirstAttempt(planned.provider);
    } else if (!this.options.budget.tryRetry(planned.provider)) {
      this.skips.inc({ provider: planned.provider, reason: 'retry_budget' });
      return false;
    }
    return true;
  }
}
