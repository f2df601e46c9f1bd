import { PigeonError } from '../core/errors.ts';
import { createAliyun } from './aliyun.ts';
import { createAwsSms } from './aws-sms.ts';
import { createGenericHttp } from './generic-http/adapter.ts';
import type { ProviderAdapter, ProviderDeps, ProviderFactory } from './provider.ts';
import { createSimulator } from './simulator.ts';
import { createSmpp } from './smpp/adapter.ts';
import { createTencent } from './tencent.ts';
import { createTwilio } from './twilio.ts';
import { createVonage } from './vonage.ts';

/**
 * A provider as configured: which adapter, its credentials and options, and what routing needs to
 * know about it. Comes from `PIGEON_CONFIG` or the admin API.
 */
export interface ProviderDefinition {
  name: string;
  type: string;
  /** Weight used when no route names this provider's weight (default 1). */
  weight?: number;
  enabled?: boolean;
  /** Sends per second the provider allows this account, shared by every bridge. */
  tps?: number;
  /** Price per segment by destination country (ISO alpha-2), `*` for any other. */
  prices?: Record<string, number>;
  /** Sender id used when neither the message nor the route names one. */
  senderId?: string;
  /** Circuit breaker settings; one breaker per provider, or per provider × country when `perCountry`. */
  breaker?: BreakerSettings;
  /** Adapter options: base URL, credentials, … */
  options?: Record<string, unknown>;
}

export interface BreakerSettings {
  /** Send timeout; the HTTP request is aborted when it passes (default 10 s). */
  timeoutMs?: number;
  /** Failure share over the rolling window that opens the breaker (default 50 %). */
  errorThresholdPercentage?: number;
  /** Calls in the window before the breaker may open at all (default 10). */
  volumeThreshold?: number;
  /** Time open before one half-open probe is let through (default 5 s). */
  resetTimeoutMs?: number;
  perCountry?: boolean;
}

/** Adapter types by name. Each adapter lives in its own file and is registered here. */
export const PROVIDER_TYPES: Record<string, ProviderFactory> = {
  simulator: createSimulator,
  smpp: createSmpp,
  http: createGenericHttp,
  'aws-sms': createAwsSms,
  aliyun: createAliyun,
  tencent: createTencent,
  twilio: createTwilio,
  vonage: createVonage,
};

export interface ConfiguredProvider {
  definition: ProviderDefinition;
  adapter: ProviderAdapter;
  weight: number;
}

/** Builds the adapter for one definition; throws PIGEON_ERR_CONFIG naming what is wrong. */
export function createAdapter(definition: ProviderDefinition, deps: ProviderDeps): ProviderAdapter {
  const factory = PROVIDER_TYPES[definition.type];
  if (!factory) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${definition.name}" has unknown type "${definition.type}" (known: ${Object.keys(PROVIDER_TYPES).join(', ')})`,
    );
  }
  if (definition.type === 'simulator' && !deps.config.simulator.enabled) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `provider "${definition.name}" is a simulator, and the simulator is off (PIGEON_SIMULATOR; on by default in embedded mode only)`,
    );
  }
  return factory(definition.name, definition.options ?? {}, deps);
}

/** The providers of `PIGEON_CONFIG`, or two simulators (`sim-a`, `sim-b`) when none is configured. */
export function declaredProviders(deps: ProviderDeps): ProviderDefinition[] {
  const declared = deps.config.providersFile?.providers ?? [];
  if (declared.length > 0) return declared;
  if (deps.config.simulator.enabled) {
    return [
      { name: 'sim-a', type: 'simulator', weight: 50 },
      { name: 'sim-b', type: 'simulator', weight: 50 },
    ];
  }
  return [];
}

/**
 * The providers this deployment routes to: those of `PIGEON_CONFIG`, or two simulators
 * (`sim-a`, `sim-b`) when none is configured and the simulator is enabled.
 */
export function createProviders(deps: ProviderDeps): ConfiguredProvider[] {
  const definitions = declaredProviders(deps);
  if (definitions.length === 0) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      'No providers: set PIGEON_CONFIG (or PIGEON_SIMULATOR=true for simulated ones)',
    );
  }
  return definitions.map((definition) => ({
    definition,
    adapter: createAdapter(definition, deps),
    weight: definition.weight ?? 1,
  }));
}
