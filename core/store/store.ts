import type { Dialect } from './migrator.ts';
import type { ResealCounts } from './secret-sealer.ts';
import type { AlertStore } from './kinds/alerts.ts';
import type { ApiKeyStore } from './kinds/api-keys.ts';
import type { BaselineStore } from './kinds/baselines.ts';
import type { CallbackStore } from './kinds/callbacks.ts';
import type { FactorStore } from './kinds/factors.ts';
import type { MessageStore } from './kinds/messages.ts';
import type { OnCallStore } from './kinds/oncall.ts';
import type { OtpSettingsStore } from './kinds/otp-settings.ts';
import type { ReportStore } from './kinds/reports.ts';
import type { RoutingStore } from './kinds/routing.ts';
import type { SendLimitsStore } from './kinds/send-limits.ts';
import type { MessagingPolicyStore } from './kinds/messaging-policy.ts';
import type { SenderStore } from './kinds/senders.ts';
import type { TemplateStore } from './kinds/templates.ts';
import type { TenantStore } from './kinds/tenants.ts';
import type { SuppressionStore } from './kinds/suppressions.ts';
import type { InboundStore } from './kinds/inbound.ts';
import type { LeaseStore } from './kinds/leases.ts';
import type { CampaignStore, CampaignUnsentStore } from './kinds/campaigns.ts';

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
    SenderStore,
    TemplateStore,
    SendLimitsStore,
    MessagingPolicyStore,
    AlertStore,
    BaselineStore,
    TenantStore,
    SuppressionStore,
    InboundStore,
    LeaseStore,
    CampaignStore,
    CampaignUnsentStore {
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
