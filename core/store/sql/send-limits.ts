import type { MessageClass } from '../../message.ts';
import type { RecipientCaps, SendLimitsStore, TenantSendLimits } from '../kinds/send-limits.ts';
import { numberOrNull, replaceRow } from '../rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** A `tenant_send_limits` row as either driver returns it (MySQL gives DECIMAL as a string). */
interface TenantSendLimitsRow {
  tenant_id: string;
  rate_per_second: number | string | null;
  burst: number | string | null;
  per_recipient_hour: number | string | null;
  per_recipient_day: number | string | null;
  daily_spend_cap: number | string | null;
  monthly_spend_cap: number | string | null;
  class_limits: string;
  updated_at: number | bigint | string;
}

const COLUMNS = [
  'tenant_id',
  'rate_per_second',
  'burst',
  'per_recipient_hour',
  'per_recipient_day',
  'daily_spend_cap',
  'monthly_spend_cap',
  'class_limits',
  'updated_at',
] as const;

const SELECT_TENANT_SEND_LIMITS = 'SELECT * FROM tenant_send_limits WHERE tenant_id = ?';

/** `tenant_send_limits`: a tenant's overrides of the gateway-wide send policy. */
export class SqlSendLimitsStore implements SendLimitsStore {
  private readonly upsertLimits: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    this.upsertLimits = replaceRow(dialect, 'tenant_send_limits', COLUMNS, ['tenant_id']);
  }

  async getTenantSendLimits(tenantId: string): Promise<TenantSendLimits | undefined> {
    const rows = await this.sql.query<TenantSendLimitsRow>(SELECT_TENANT_SEND_LIMITS, [tenantId]);
    const row = rows[0];
    if (!row) return undefined;
    return {
      ratePerSecond: numberOrNull(row.rate_per_second),
      burst: numberOrNull(row.burst),
      perRecipientHour: numberOrNull(row.per_recipient_hour),
      perRecipientDay: numberOrNull(row.per_recipient_day),
      dailySpendCap: numberOrNull(row.daily_spend_cap),
      monthlySpendCap: numberOrNull(row.monthly_spend_cap),
      classes: JSON.parse(row.class_limits) as Partial<Record<MessageClass, RecipientCaps>>,
      updatedAt: Number(row.updated_at),
    };
  }

  async putTenantSendLimits(tenantId: string, limits: TenantSendLimits): Promise<void> {
    // Spend caps as text: exact in SQLite's TEXT column and in MySQL's DECIMAL, whatever the float.
    const amount = (value: number | null) => (value === null ? null : String(value));
    await this.sql.execute(this.upsertLimits, [
      tenantId,
      limits.ratePerSecond,
      limits.burst,
      limits.perRecipientHour,
      limits.perRecipientDay,
      amount(limits.dailySpendCap),
      amount(limits.monthlySpendCap),
      JSON.stringify(limits.classes),
      limits.updatedAt,
    ]);
  }
}
