import CircuitBreaker from 'opossum';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../../core/logger.ts';
import {
  type ProviderAdapter,
  ProviderError,
  type SendRequest,
  type SendResult,
} from '../../../providers/provider.ts';
import type { BreakerSettings } from '../../../providers/registry.ts';
import type { PlannedProvider } from '../../../routing/planner.ts';
import { BridgeEvents } from '../events.ts';

export type Breaker = CircuitBreaker<[SendRequest, AbortSignal], SendResult>;
type BreakerState = 0 | 1 | 2;

export interface BreakerRegistryOptions {
  registry: Registry;
  logger: Logger;
  /** Defaults for providers whose definition names no breaker settings. */
  defaults?: BreakerSettings | undefined;
}

/**
 * One circuit breaker per provider, or per provider and country when its definition asks for
 * that: created on first use, replaced when the provider is redefined, every state change logged
 * and exported as a gauge.
 */
export class BreakerRegistry {
  private readonly breakers = new Map<string, Breaker>();
  /** The adapter each breaker calls: a provider redefined at runtime gets a new one. */
  private readonly breakerAdapters = new WeakMap<Breaker, ProviderAdapter>();
  private readonly breakerState: Gauge<'breaker'>;

  constructor(private readonly options: BreakerRegistryOptions) {
    this.breakerState = new Gauge({
      name: 'pigeon_bridge_breaker_state',
      help: 'Circuit breaker state per provider (or provider:country): 0 closed, 1 half-open, 2 open',
      labelNames: ['breaker'],
      registers: [options.registry],
    });
  }

  /** True when the breaker that would carry this provider's traffic to `country` is open. */
  isOpen = (provider: string, country: string | undefined): boolean => {
    const breaker = this.breakers.get(`${provider}:${country ?? '*'}`) ?? this.breakers.get(`${provider}:*`);
    return breaker?.opened ?? false;
  };

  /** State of every breaker (`provider:country` or `provider:*`): 0 closed, 1 half-open, 2 open. */
  states(): Record<string, number> {
    const states: Record<string, number> = {};
    for (const [key, breaker] of this.breakers) {
      states[key] = breaker.opened ? 2 : breaker.halfOpen ? 1 : 0;
    }
    return states;
  }

  /** The breaker that carries this provider's traffic to `country`. */
  breakerFor(planned: PlannedProvider, country: string | undefined): Breaker {
    const settings = { ...this.options.defaults, ...planned.definition.breaker };
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
        // opossum's default keeps every call's latency in the window and, to judge each failure,
        // concatenates and sorts them all for percentiles nobody reads here: about 10 ms of CPU
        // per failure with 30,000 calls in the window (bench/breaker-failure.ts), so a provider
        // failing 300 sends a second, too few to open its breaker, would take about three cores.
        // Counts are all the breaker needs to open; the latencies are in
        // pigeon_bridge_provider_send_seconds.
        rollingPercentilesEnabled: false,
        // Nothing listens to the per-second snapshot, which computed the same totals.
        enableSnapshots: false,
        // A permanent rejection says nothing about the provider's health.
        errorFilter: (err: unknown) => err instanceof ProviderError && !err.isProviderFault,
      },
    );
    this.breakerAdapters.set(breaker, adapter);
    const setState = (state: BreakerState) => this.breakerState.set({ breaker: key }, state);
    breaker.on('open', () => {
      setState(2);
      this.options.logger.warn({ breaker: key }, BridgeEvents.breakerOpen);
    });
    breaker.on('halfOpen', () => {
      setState(1);
      this.options.logger.info({ breaker: key }, BridgeEvents.breakerHalfOpen);
    });
    breaker.on('close', () => {
      setState(0);
      this.options.logger.info({ breaker: key }, BridgeEvents.breakerClose);
    });
    setState(0);
    this.breakers.set(key, breaker);
    return breaker;
  }

  close(): void {
    for (const breaker of this.breakers.values()) breaker.shutdown();
  }
}
