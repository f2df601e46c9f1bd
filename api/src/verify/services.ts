import type { Registry } from 'prom-client';
import type { Bus } from '../../../core/bus/bus.ts';
import type { Cache } from '../../../core/cache/cache.ts';
import type { Logger } from '../../../core/logger.ts';
import type { Store } from '../../../core/store/store.ts';
import type { MessagePublisher } from '../publisher.ts';
import type { SendPolicy } from '../send-policy/engine.ts';
import { VerificationAudit } from './audit.ts';
import { Factors } from './factors.ts';
import { VerificationLimits } from './limits.ts';
import type { VerificationSettings } from './settings.ts';
import { TenantOtpSettingsCache } from './tenant-settings.ts';
import { Verifications } from './verifications.ts';

export interface VerificationDeps {
  cache: Cache;
  store: Store;
  bus: Bus;
  publisher: MessagePublisher;
  logger: Logger;
  registry: Registry;
  settings: VerificationSettings;
  /** Per-tenant overrides of the allowlist and spend cap; default: the store's shared cache. */
  tenantSettings?: TenantOtpSettingsCache;
  /** The send policy codes count in as messages do (tenant bucket, spend caps), at its per-country price. */
  sendPolicy?: SendPolicy;
  now?: () => number;
}

/** What the verification routes serve: SMS codes and authenticator-app factors. */
export interface VerificationServices {
  verifications: Verifications;
  factors: Factors;
}

/** Wires SMS verifications and factors over one audit trail and one set of limits. */
export function verificationServices(deps: VerificationDeps): VerificationServices {
  const now = deps.now ?? Date.now;
  const tenantSettings = deps.tenantSettings ?? TenantOtpSettingsCache.for(deps.store);
  tenantSettings.logger ??= deps.logger;
  const { cache, store, logger, registry, settings } = deps;
  const audit = new VerificationAudit({ bus: deps.bus, logger, registry });
  const limits = new VerificationLimits({
    cache,
    logger,
    registry,
    settings,
    tenantSettings,
    audit,
    now,
    ...(deps.sendPolicy ? { sendPolicy: deps.sendPolicy } : {}),
  });
  const factors = new Factors({ store, cache, logger, settings, limits, now });
  const verifications = new Verifications({
    cache,
    publisher: deps.publisher,
    logger,
    registry,
    settings,
    limits,
    factors,
    audit,
    now,
  });
  return { verifications, factors };
}
