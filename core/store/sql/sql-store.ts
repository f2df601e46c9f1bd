import type { Dialect } from '../migrator.ts';
import type { AlertRuleRecord, IncidentRecord, SilenceRecord } from '../kinds/alerts.ts';
import type { ApiKeyRecord } from '../kinds/api-keys.ts';
import type { BaselineRecord, DeliveryTotals } from '../kinds/baselines.ts';
import type {
  CallbackBacklog,
  CallbackChange,
  CallbackDelivery,
  CallbackTarget,
  WebhookRecord,
} from '../kinds/callbacks.ts';
import type { TotpFactorRecord } from '../kinds/factors.ts';
import type {
  AttemptRecord,
  MessageEventRecord,
  MessageRecord,
  MessageStore,
  OverdueReceipt,
  PurgeCounts,
  WriteBatch,
} from '../kinds/messages.ts';
import type { TenantOtpSettings } from '../kinds/otp-settings.ts';
import type { TenantSendLimits } from '../kinds/send-limits.ts';
import type { TenantMessagingPolicy } from '../kinds/messaging-policy.ts';
import type { MessageFilter, MessagePage, UsageGroupBy, UsageRow } from '../kinds/reports.ts';
import type {
  ProviderRecord,
  PutOptions,
  RouteRecord,
  StorableProvider,
  StorableRoute,
} from '../kinds/routing.ts';
import type { TenantRecord, TenantStatus } from '../kinds/tenants.ts';
import type { SenderRecord } from '../kinds/senders.ts';
import type { TemplateRecord } from '../kinds/templates.ts';
import type { PageRecord, PageStatus, RosterRecord } from '../../oncall.ts';
import { type ProviderRow } from '../rows.ts';
import type { WebhookRow } from '../callback-rows.ts';
import type { ResealCounts, SecretSealer } from '../secret-sealer.ts';
import type { Store } from '../store.ts';
import { SqlAlertStore } from './alerts.ts';
import { SqlApiKeyStore } from './api-keys.ts';
import { SqlBaselineStore } from './baselines.ts';
import { SqlCallbackStore } from './callbacks.ts';
import type { SqlDialect } from './dialect.ts';
import { SqlFactorStore } from './factors.ts';
import { SqlMessageStore } from './messages.ts';
import { SqlOnCallStore } from './oncall.ts';
import { SqlOtpSettingsStore } from './otp-settings.ts';
import { SqlReportStore } from './reports.ts';
import { SqlSendLimitsStore } from './send-limits.ts';
import { SqlMessagingPolicyStore } from './messaging-policy.ts';
import { SqlRoutingStore } from './routing.ts';
import type { SqlRunner } from './runner.ts';
import { SqlTenantStore } from './tenants.ts';
import { SqlSenderStore } from './senders.ts';
import { SqlTemplateStore } from './templates.ts';
import { SqlSuppressionStore } from './suppressions.ts';
import { SqlInboundStore } from './inbound.ts';
import { SqlLeaseStore } from './leases.ts';
import { SqlCampaignUnsentStore } from './campaign-unsent.ts';
import type { SuppressionPosition, SuppressionRecord } from '../kinds/suppressions.ts';
import type { InboundRecord } from '../kinds/inbound.ts';
import type {
  CampaignApprovalSettings,
  CampaignChanges,
  CampaignMessage,
  CampaignRecipient,
  CampaignRecord,
  CampaignRowError,
  CampaignState,
  CampaignStatusCount,
  CampaignUnsettledCounts,
  CampaignUnsentRow,
} from '../kinds/campaigns.ts';
import { SqlCampaignStore } from './campaigns.ts';
import type { OptOutSettings } from '../../opt-out.ts';

/**
 * The Store over SQL, whatever the database: the repositories of each record kind over one
 * runner and dialect. MysqlStore and SqliteStore add the connection, migrations, ping and close.
 */
export abstract class SqlStore implements Store {
  readonly kind: Dialect;
  private readonly messages: SqlMessageStore;
  private readonly reports: SqlReportStore;
  private readonly apiKeys: SqlApiKeyStore;
  private readonly factors: SqlFactorStore;
  private readonly routing: SqlRoutingStore;
  private readonly callbacks: SqlCallbackStore;
  private readonly onCall: SqlOnCallStore;
  private readonly otpSettings: SqlOtpSettingsStore;
  private readonly senders: SqlSenderStore;
  private readonly templates: SqlTemplateStore;
  private readonly sendLimits: SqlSendLimitsStore;
  private readonly messagingPolicy: SqlMessagingPolicyStore;
  private readonly alerts: SqlAlertStore;
  private readonly baselines: SqlBaselineStore;
  private readonly tenants: SqlTenantStore;
  private readonly suppressions: SqlSuppressionStore;
  private readonly inbound: SqlInboundStore;
  private readonly leases: SqlLeaseStore;
  private readonly campaignUnsent: SqlCampaignUnsentStore;
  private readonly campaigns: SqlCampaignStore;

  protected constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
    private readonly secrets: SecretSealer,
  ) {
    this.kind = dialect.name;
    this.messages = new SqlMessageStore(sql, dialect);
    this.reports = new SqlReportStore(sql, dialect);
    this.apiKeys = new SqlApiKeyStore(sql, dialect);
    this.factors = new SqlFactorStore(sql, dialect);
    this.routing = new SqlRoutingStore(sql, dialect, secrets);
    this.callbacks = new SqlCallbackStore(sql, dialect, secrets);
    this.onCall = new SqlOnCallStore(sql, dialect);
    this.otpSettings = new SqlOtpSettingsStore(sql, dialect);
    this.senders = new SqlSenderStore(sql, dialect);
    this.templates = new SqlTemplateStore(sql, dialect);
    this.sendLimits = new SqlSendLimitsStore(sql, dialect);
    this.messagingPolicy = new SqlMessagingPolicyStore(sql, dialect);
    this.alerts = new SqlAlertStore(sql, dialect);
    this.baselines = new SqlBaselineStore(sql, dialect);
    this.tenants = new SqlTenantStore(sql);
    this.suppressions = new SqlSuppressionStore(sql, dialect);
    this.inbound = new SqlInboundStore(sql);
    this.leases = new SqlLeaseStore(sql, dialect);
    this.campaignUnsent = new SqlCampaignUnsentStore(sql, dialect);
    this.campaigns = new SqlCampaignStore(sql, dialect);
  }

  abstract migrate(): Promise<void>;
  abstract ping(): Promise<boolean>;
  abstract close(): Promise<void>;

  async resealSecrets(): Promise<ResealCounts> {
    const providers = await this.sql.query<ProviderRow>('SELECT * FROM providers', []);
    for (const row of providers) {
      await this.sql.execute(
        `UPDATE providers SET definition = ?, updated_at = ${this.dialect.greatest}(?, updated_at + 1) WHERE name = ?`,
        [this.secrets.reseal(row.definition, `provider ${row.name}`), Date.now(), row.name],
      );
    }
    const webhooks = await this.sql.query<WebhookRow>('SELECT * FROM tenant_webhooks', []);
    for (const row of webhooks) {
      await this.sql.execute('UPDATE tenant_webhooks SET secret = ? WHERE tenant_id = ?', [
        this.secrets.reseal(row.secret, `the webhook secret of tenant ${row.tenant_id}`),
        row.tenant_id,
      ]);
    }
    return { providers: providers.length, webhooks: webhooks.length };
  }

  // ---- Each record kind's methods, from its repository ----

  acquireLease(name: string, holder: string, now: number, expiresAt: number): Promise<boolean> {
    return this.leases.acquireLease(name, holder, now, expiresAt);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.leases.releaseLease(name, holder);
  }

  recordUnsentRows(campaignId: string, run: number, rows: readonly CampaignUnsentRow[]): Promise<void> {
    return this.campaignUnsent.recordUnsentRows(campaignId, run, rows);
  }

  countUnsentRows(campaignId: string): Promise<number> {
    return this.campaignUnsent.countUnsentRows(campaignId);
  }

  listUnsentRows(
    campaignId: string,
    run: number,
    page: { limit: number; after?: number },
  ): Promise<CampaignUnsentRow[]> {
    return this.campaignUnsent.listUnsentRows(campaignId, run, page);
  }

  listBaselines(): Promise<BaselineRecord[]> {
    return this.baselines.listBaselines();
  }

  putBaselines(records: readonly BaselineRecord[]): Promise<void> {
    return this.baselines.putBaselines(records);
  }

  deleteBaselines(observedBefore: number): Promise<number> {
    return this.baselines.deleteBaselines(observedBefore);
  }

  deliveryTotals(range: { since: number; until: number }): Promise<DeliveryTotals[]> {
    return this.baselines.deliveryTotals(range);
  }

  writeBatch(batch: WriteBatch): Promise<void> {
    return this.messages.writeBatch(batch);
  }

  getMessage(tenantId: string, id: string): Promise<MessageRecord | undefined> {
    return this.messages.getMessage(tenantId, id);
  }

  listEvents(tenantId: string, messageId: string): Promise<MessageEventRecord[]> {
    return this.messages.listEvents(tenantId, messageId);
  }

  listAttempts(tenantId: string, messageId: string): Promise<AttemptRecord[]> {
    return this.messages.listAttempts(tenantId, messageId);
  }

  purgeMessages(before: number, limit: number): Promise<PurgeCounts> {
    return this.messages.purgeMessages(before, limit);
  }

  overdueReceipts(query: Parameters<MessageStore['overdueReceipts']>[0]): Promise<OverdueReceipt[]> {
    return this.messages.overdueReceipts(query);
  }

  listMessages(tenantId: string, filter: MessageFilter, page: MessagePage): Promise<MessageRecord[]> {
    return this.reports.listMessages(tenantId, filter, page);
  }

  usage(
    tenantId: string,
    range: { since: number; until: number },
    groupBy: UsageGroupBy,
  ): Promise<UsageRow[]> {
    return this.reports.usage(tenantId, range, groupBy);
  }

  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.apiKeys.findApiKeyByHash(hash);
  }

  putApiKey(key: ApiKeyRecord): Promise<void> {
    return this.apiKeys.putApiKey(key);
  }

  getApiKey(tenantId: string, id: string): Promise<ApiKeyRecord | undefined> {
    return this.apiKeys.getApiKey(tenantId, id);
  }

  listApiKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    return this.apiKeys.listApiKeys(tenantId);
  }

  revokeApiKey(tenantId: string, id: string, at: number): Promise<boolean> {
    return this.apiKeys.revokeApiKey(tenantId, id, at);
  }

  rotateApiKey(
    tenantId: string,
    id: string,
    replacement: ApiKeyRecord,
    times: { now: number; expiresAt: number },
  ): Promise<boolean> {
    return this.apiKeys.rotateApiKey(tenantId, id, replacement, times);
  }

  putTotpFactor(factor: TotpFactorRecord): Promise<void> {
    return this.factors.putTotpFactor(factor);
  }

  getTotpFactor(tenantId: string, id: string): Promise<TotpFactorRecord | undefined> {
    return this.factors.getTotpFactor(tenantId, id);
  }

  findTotpFactor(tenantId: string, recipient: string): Promise<TotpFactorRecord | undefined> {
    return this.factors.findTotpFactor(tenantId, recipient);
  }

  hasVerifiedTotpFactor(tenantId: string): Promise<boolean> {
    return this.factors.hasVerifiedTotpFactor(tenantId);
  }

  verifyTotpFactor(tenantId: string, id: string, at: number): Promise<boolean> {
    return this.factors.verifyTotpFactor(tenantId, id, at);
  }

  deleteTotpFactor(tenantId: string, id: string): Promise<boolean> {
    return this.factors.deleteTotpFactor(tenantId, id);
  }

  listProviders(): Promise<ProviderRecord[]> {
    return this.routing.listProviders();
  }

  putProvider<T extends StorableProvider>(definition: T, options?: PutOptions): Promise<boolean> {
    return this.routing.putProvider(definition, options);
  }

  deleteProvider(name: string): Promise<boolean> {
    return this.routing.deleteProvider(name);
  }

  listRoutes(): Promise<RouteRecord[]> {
    return this.routing.listRoutes();
  }

  putRoute<T extends StorableRoute>(rule: T, options?: PutOptions): Promise<boolean> {
    return this.routing.putRoute(rule, options);
  }

  deleteRoute(id: string): Promise<boolean> {
    return this.routing.deleteRoute(id);
  }

  routingVersion(): Promise<string> {
    return this.routing.routingVersion();
  }

  getWebhook(tenantId: string): Promise<WebhookRecord | undefined> {
    return this.callbacks.getWebhook(tenantId);
  }

  putWebhook(webhook: WebhookRecord): Promise<void> {
    return this.callbacks.putWebhook(webhook);
  }

  deleteWebhook(tenantId: string): Promise<boolean> {
    return this.callbacks.deleteWebhook(tenantId);
  }

  callbackTargets(messageIds: readonly string[]): Promise<CallbackTarget[]> {
    return this.callbacks.callbackTargets(messageIds);
  }

  enqueueCallbacks(deliveries: readonly CallbackDelivery[]): Promise<void> {
    return this.callbacks.enqueueCallbacks(deliveries);
  }

  dueCallbacks(options: {
    now: number;
    limit: number;
    excludeHosts: readonly string[];
  }): Promise<Array<{ id: string; host: string }>> {
    return this.callbacks.dueCallbacks(options);
  }

  claimCallbacks(
    ids: readonly string[],
    lease: { now: number; leaseUntil: number; token: string },
  ): Promise<CallbackDelivery[]> {
    return this.callbacks.claimCallbacks(ids, lease);
  }

  updateCallback(id: string, token: string, change: CallbackChange): Promise<boolean> {
    return this.callbacks.updateCallback(id, token, change);
  }

  deferCallbacks(host: string, until: number): Promise<number> {
    return this.callbacks.deferCallbacks(host, until);
  }

  callbackBacklog(): Promise<CallbackBacklog> {
    return this.callbacks.callbackBacklog();
  }

  purgeCallbacks(before: number, limit: number): Promise<number> {
    return this.callbacks.purgeCallbacks(before, limit);
  }

  listRosters(tenantId: string): Promise<RosterRecord[]> {
    return this.onCall.listRosters(tenantId);
  }

  getRoster(tenantId: string, name: string): Promise<RosterRecord | undefined> {
    return this.onCall.getRoster(tenantId, name);
  }

  putRoster(record: RosterRecord): Promise<void> {
    return this.onCall.putRoster(record);
  }

  deleteRoster(tenantId: string, name: string): Promise<boolean> {
    return this.onCall.deleteRoster(tenantId, name);
  }

  insertPage(page: PageRecord): Promise<void> {
    return this.onCall.insertPage(page);
  }

  getPage(tenantId: string, id: string): Promise<PageRecord | undefined> {
    return this.onCall.getPage(tenantId, id);
  }

  findPages(tenantId: string, fingerprint: string, statuses: readonly PageStatus[]): Promise<PageRecord[]> {
    return this.onCall.findPages(tenantId, fingerprint, statuses);
  }

  updatePage(page: PageRecord, expected: { status: PageStatus; level: number }): Promise<boolean> {
    return this.onCall.updatePage(page, expected);
  }

  duePages(now: number, limit: number): Promise<PageRecord[]> {
    return this.onCall.duePages(now, limit);
  }

  getTenantOtpSettings(tenantId: string): Promise<TenantOtpSettings | undefined> {
    return this.otpSettings.getTenantOtpSettings(tenantId);
  }

  putTenantOtpSettings(tenantId: string, settings: TenantOtpSettings): Promise<void> {
    return this.otpSettings.putTenantOtpSettings(tenantId, settings);
  }

  listSenders(tenantId: string): Promise<SenderRecord[]> {
    return this.senders.listSenders(tenantId);
  }

  putSender(record: SenderRecord): Promise<void> {
    return this.senders.putSender(record);
  }

  deleteSender(tenantId: string, sender: string): Promise<boolean> {
    return this.senders.deleteSender(tenantId, sender);
  }

  listTemplates(tenantId: string): Promise<TemplateRecord[]> {
    return this.templates.listTemplates(tenantId);
  }

  getTemplate(tenantId: string, id: string): Promise<TemplateRecord | undefined> {
    return this.templates.getTemplate(tenantId, id);
  }

  putTemplate(record: TemplateRecord): Promise<void> {
    return this.templates.putTemplate(record);
  }

  deleteTemplate(tenantId: string, id: string): Promise<boolean> {
    return this.templates.deleteTemplate(tenantId, id);
  }

  putSuppressions(records: readonly SuppressionRecord[]): Promise<void> {
    return this.suppressions.putSuppressions(records);
  }

  deleteSuppressions(tenantId: string, phone: string, sender?: string): Promise<number> {
    return this.suppressions.deleteSuppressions(tenantId, phone, sender);
  }

  suppressionScopes(tenantId: string, phone: string): Promise<string[]> {
    return this.suppressions.suppressionScopes(tenantId, phone);
  }

  listSuppressions(
    tenantId: string,
    options: { limit: number; after?: SuppressionPosition },
  ): Promise<SuppressionRecord[]> {
    return this.suppressions.listSuppressions(tenantId, options);
  }

  getOptOutSettings(tenantId: string): Promise<OptOutSettings | undefined> {
    return this.suppressions.getOptOutSettings(tenantId);
  }

  putOptOutSettings(tenantId: string, settings: OptOutSettings, updatedAt: number): Promise<void> {
    return this.suppressions.putOptOutSettings(tenantId, settings, updatedAt);
  }

  insertInbound(record: InboundRecord): Promise<boolean> {
    return this.inbound.insertInbound(record);
  }

  listInbound(tenantId: string, options: { limit: number; before?: string }): Promise<InboundRecord[]> {
    return this.inbound.listInbound(tenantId, options);
  }

  tenantOfSender(sender: string): Promise<string | undefined> {
    return this.inbound.tenantOfSender(sender);
  }

  lastMessageTo(tenantId: string, recipient: string, sender: string): Promise<string | undefined> {
    return this.inbound.lastMessageTo(tenantId, recipient, sender);
  }

  getTenantSendLimits(tenantId: string): Promise<TenantSendLimits | undefined> {
    return this.sendLimits.getTenantSendLimits(tenantId);
  }

  putTenantSendLimits(tenantId: string, limits: TenantSendLimits): Promise<void> {
    return this.sendLimits.putTenantSendLimits(tenantId, limits);
  }

  getTenantMessagingPolicy(tenantId: string): Promise<TenantMessagingPolicy | undefined> {
    return this.messagingPolicy.getTenantMessagingPolicy(tenantId);
  }

  putTenantMessagingPolicy(tenantId: string, policy: TenantMessagingPolicy): Promise<void> {
    return this.messagingPolicy.putTenantMessagingPolicy(tenantId, policy);
  }

  listAlertRules(): Promise<AlertRuleRecord[]> {
    return this.alerts.listAlertRules();
  }

  putAlertRule(rule: { id: string } & Record<string, unknown>): Promise<void> {
    return this.alerts.putAlertRule(rule);
  }

  deleteAlertRule(id: string): Promise<boolean> {
    return this.alerts.deleteAlertRule(id);
  }

  listSilences(activeAfter?: number): Promise<SilenceRecord[]> {
    return this.alerts.listSilences(activeAfter);
  }

  getSilence(id: string): Promise<SilenceRecord | undefined> {
    return this.alerts.getSilence(id);
  }

  putSilence(silence: SilenceRecord): Promise<void> {
    return this.alerts.putSilence(silence);
  }

  putIncidents(incidents: readonly IncidentRecord[]): Promise<void> {
    return this.alerts.putIncidents(incidents);
  }

  listIncidents(filter: { open?: boolean; before?: string; limit: number }): Promise<IncidentRecord[]> {
    return this.alerts.listIncidents(filter);
  }

  getIncident(id: string): Promise<IncidentRecord | undefined> {
    return this.alerts.getIncident(id);
  }

  acknowledgeIncident(idOrCode: string, by: string, at: number): Promise<IncidentRecord | undefined> {
    return this.alerts.acknowledgeIncident(idOrCode, by, at);
  }

  createTenant(tenant: TenantRecord): Promise<boolean> {
    return this.tenants.createTenant(tenant);
  }

  getTenant(id: string): Promise<TenantRecord | undefined> {
    return this.tenants.getTenant(id);
  }

  listTenants(page: { after?: string; limit: number }): Promise<TenantRecord[]> {
    return this.tenants.listTenants(page);
  }

  setTenantStatus(id: string, status: TenantStatus, at: number): Promise<boolean> {
    return this.tenants.setTenantStatus(id, status, at);
  }

  createCampaign(record: CampaignRecord): Promise<boolean> {
    return this.campaigns.createCampaign(record);
  }

  getCampaign(tenantId: string, id: string): Promise<CampaignRecord | undefined> {
    return this.campaigns.getCampaign(tenantId, id);
  }

  findCampaignByIdempotencyKey(tenantId: string, key: string): Promise<CampaignRecord | undefined> {
    return this.campaigns.findCampaignByIdempotencyKey(tenantId, key);
  }

  listCampaigns(tenantId: string, page: { limit: number; before?: string }): Promise<CampaignRecord[]> {
    return this.campaigns.listCampaigns(tenantId, page);
  }

  transitionCampaign(
    tenantId: string,
    id: string,
    from: readonly CampaignState[],
    to: CampaignState,
    at: number,
    changes?: CampaignChanges,
  ): Promise<boolean> {
    return this.campaigns.transitionCampaign(tenantId, id, from, to, at, changes);
  }

  setCampaignCounts(
    tenantId: string,
    id: string,
    counts: { recipientCount: number; invalidCount: number; estimatedCost: number | null },
    at: number,
  ): Promise<boolean> {
    return this.campaigns.setCampaignCounts(tenantId, id, counts, at);
  }

  leaseCampaign(tenantId: string, id: string, owner: string, now: number, until: number): Promise<boolean> {
    return this.campaigns.leaseCampaign(tenantId, id, owner, now, until);
  }

  releaseCampaign(tenantId: string, id: string, owner: string): Promise<boolean> {
    return this.campaigns.releaseCampaign(tenantId, id, owner);
  }

  advanceCampaign(
    tenantId: string,
    id: string,
    expected: { run: number; nextRow: number },
    next: { run: number; nextRow: number },
    at: number,
  ): Promise<boolean> {
    return this.campaigns.advanceCampaign(tenantId, id, expected, next, at);
  }

  dueCampaigns(now: number, limit: number): Promise<CampaignRecord[]> {
    return this.campaigns.dueCampaigns(now, limit);
  }

  appendRecipients(campaignId: string, rows: readonly CampaignRecipient[]): Promise<void> {
    return this.campaigns.appendRecipients(campaignId, rows);
  }

  readRecipients(campaignId: string, from: number, limit: number): Promise<CampaignRecipient[]> {
    return this.campaigns.readRecipients(campaignId, from, limit);
  }

  appendRowErrors(campaignId: string, errors: readonly CampaignRowError[]): Promise<void> {
    return this.campaigns.appendRowErrors(campaignId, errors);
  }

  listRowErrors(campaignId: string, page: { limit: number; after?: number }): Promise<CampaignRowError[]> {
    return this.campaigns.listRowErrors(campaignId, page);
  }

  clearRecipients(campaignId: string): Promise<void> {
    return this.campaigns.clearRecipients(campaignId);
  }

  campaignStatusCounts(tenantId: string, campaignId: string): Promise<CampaignStatusCount[]> {
    return this.campaigns.campaignStatusCounts(tenantId, campaignId);
  }

  campaignUnsettledCounts(campaignId: string): Promise<CampaignUnsettledCounts> {
    return this.campaigns.campaignUnsettledCounts(campaignId);
  }

  storedCampaignMessageIds(campaignId: string, ids: readonly string[]): Promise<string[]> {
    return this.campaigns.storedCampaignMessageIds(campaignId, ids);
  }

  listCampaignMessages(
    tenantId: string,
    campaignId: string,
    page: { limit: number; after?: string },
  ): Promise<CampaignMessage[]> {
    return this.campaigns.listCampaignMessages(tenantId, campaignId, page);
  }

  getCampaignApproval(tenantId: string): Promise<CampaignApprovalSettings | undefined> {
    return this.campaigns.getCampaignApproval(tenantId);
  }

  putCampaignApproval(tenantId: string, settings: CampaignApprovalSettings): Promise<void> {
    return this.campaigns.putCampaignApproval(tenantId, settings);
  }
}
