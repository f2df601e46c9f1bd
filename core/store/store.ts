import type { Dialect } from './migrator.ts';
import type { ResealCounts } from './secret-sealer.ts';
import type { AlertStore } from './kinds/alerts.ts';
import type { ApiKeyStore } from './kinds/api-keys.ts';
import type { CallbackStore } from './kinds/callbacks.ts';
import type { FactorStore } from './kinds/factors.ts';
import type { MessageStore } from './kinds/messages.ts';
import type { OnCallStore } from './kinds/oncall.ts';
import type { OtpSettingsStore } from './kinds/otp-settings.ts';
import type { ReportStore } from './kinds/reports.ts';
import type { RoutingStore } from './kinds/routing.ts';

// The records of every kind, so a consumer of the whole Store imports its vocabulary from one
// place; a consumer of one kind may import that kind's module (kinds/) directly.
export * from './kinds/alerts.ts';
export * from './kinds/api-keys.ts';
export * from './kinds/callbacks.ts';
export * from './kinds/factors.ts';
export * from './kinds/messages.ts';
export * from './kinds/oncall.ts';
export * from './kinds/otp-settings.ts';
export * from './kinds/reports.ts';
export * from './kinds/routing.ts';

/**
 * Durable records: MySQL/TiDB in production, SQLite in embedded mode. One interface per record
 * kind (kinds/), implemented once for both dialects (sql/). Contract: test/contract/store*.test.ts.
 * Methods reject with PigeonError `PIGEON_ERR_STORE_UNAVAILABLE` when the database cannot be
 * reached.
 */
export interface Store
  extends
    MessageStore,
    ReportStore,
    ApiKeyStore,
    FactorStore,
    RoutingStore,
    CallbackStore,
    OnCallStore,
    OtpSettingsStore,
    AlertStore {
  readonly kind: Dialect;
  /** Applies pending migrations (ordered SQL files); safe to call from several processes. */
  migrate(): Promise<void>;
  /**
   * Writes every provider definition and webhook secret again under the current secrets key:
   * after a rotation (the old key still readable as the previous one) or once a key is first set.
   */
  resealSecrets(): Promise<ResealCounts>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
