import type { Cache } from '../../core/cache/cache.ts';
import type { Config } from '../../core/config.ts';
import { PigeonError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { ProviderAdapter } from './provider.ts';
import { SimulatorProvider } from './simulator.ts';

export interface ConfiguredProvider {
  adapter: ProviderAdapter;
  weight: number;
}

interface ProviderDeps {
  config: Config;
  cache: Cache;
  logger: Logger;
}

type Factory = (name: string, options: Record<string, unknown>, deps: ProviderDeps) => ProviderAdapter;

const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

const FACTORIES: Record<string, Factory> = {
  simulator: (name, options, deps) =>
    new SimulatorProvider(name, {
      latencyMs: num(options.latencyMs, 20),
      failureRatio: num(options.failureRatio, 0),
      receiptDelayMs: num(options.receiptDelayMs, 300),
      undeliveredRatio: num(options.undeliveredRatio, 0),
      secret: deps.config.simulator.receiptSecret,
      outbox: deps.cache,
      logger: deps.logger,
    }),
};

/**
 * The providers this deployment routes to: those of `PIGEON_CONFIG`, or two simulators
 * (`sim-a`, `sim-b`) when none is configured and the simulator is enabled.
 */
export function createProviders(deps: ProviderDeps): ConfiguredProvider[] {
  const declared = deps.config.providersFile?.providers ?? [];
  const specs =
    declared.length > 0
      ? declared
      : deps.config.simulator.enabled
        ? [
            { name: 'sim-a', type: 'simulator', weight: 50 },
            { name: 'sim-b', type: 'simulator', weight: 50 },
          ]
        : [];
  if (specs.length === 0) {
    throw new PigeonError('PIGEON_ERR_CONFIG', 'No providers: set PIGEON_CONFIG or PIGEON_SIMULATOR=true');
  }
  return specs.map((spec) => {
    const factory = FACTORIES[spec.type];
    if (!factory) {
      throw new PigeonError(
        'PIGEON_ERR_CONFIG',
        `PIGEON_CONFIG: provider "${spec.name}" has unknown type "${spec.type}"`,
      );
    }
    if (spec.type === 'simulator' && !deps.config.simulator.enabled) {
      throw new PigeonError(
        'PIGEON_ERR_CONFIG',
        `PIGEON_CONFIG: provider "${spec.name}" is a simulator but PIGEON_SIMULATOR=false`,
      );
    }
    return { adapter: factory(spec.name, spec.options ?? {}, deps), weight: spec.weight ?? 1 };
  });
}
