import type { Registry } from 'prom-client';
import type { Cache } from '../../core/cache/cache.ts';
import type { Logger } from '../../core/logger.ts';
import type { HealthBoard } from '../../core/provider-health.ts';
import type { ConfiguredProvider } from '../../providers/registry.ts';
import { Dispatcher, type DispatcherOptions } from '../../supplier-bridge/src/dispatch/dispatcher.ts';
import { CacheProviderGate } from '../../supplier-bridge/src/provider-gate.ts';
import { CatalogPlanner, fixedRouting } from '../../routing/planner.ts';

/**
 * A dispatcher over a fixed list of providers, as tests and benches build one: no receipt checks
 * and a receipt URL nobody serves, the rate-limit gate in `cache`.
 */
export function fixedDispatcher(
  providers: readonly ConfiguredProvider[],
  deps: { cache: Cache; logger: Logger; registry: Registry; health?: Pick<HealthBoard, 'health'> },
  options: Partial<DispatcherOptions> = {},
): Dispatcher {
  return new Dispatcher({
    planner: new CatalogPlanner(fixedRouting(providers), deps.health),
    gate: new CacheProviderGate(deps.cache),
    cache: deps.cache,
    logger: deps.logger,
    registry: deps.registry,
    publicUrl: 'http://127.0.0.1:9',
    receiptTimeoutMs: { otp: 0, alert: 0 },
    ...options,
  });
}
