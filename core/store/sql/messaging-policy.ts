import type { MessagingPolicyStore, QuietHours, TenantMessagingPolicy } from '../kinds/messaging-policy.ts';
import { numberOrNull, replaceRow } from '../rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** A `tenant_messaging_policy` row as either driver returns it. */
interface TenantMessagingPolicyRow {
  tenant_id: string;
  quiet_hours: string | null;
  marketing_per_day: number | string | null;
  marketing_per_week: number | string | null;
  dedup_window_seconds: number | string | null;
  smart_encoding: number | string | boolean;
  updated_at: number | bigint | string;
}

const COLUMNS = [
  'tenant_id',
  'quiet_hours',
  'marketing_per_day',
  'marketing_per_week',
  'dedup_window_seconds',
  'smart_encoding',
  'updated_at',
] as const;

/** `tenant_messaging_policy`: a tenant's quiet hours, marketing caps, dedup window and encoding choice. */
export class SqlMessagingPolicyStore implements MessagingPolicyStore {
  private readonly upsertPolicy: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    this.upsertPolicy = replaceRow(dialect, 'tenant_messaging_policy', COLUMNS, ['tenant_id']);
  }

  async getTenantMessagingPolicy(tenantId: string): Promise<TenantMessagingPolicy | undefined> {
    const rows = await this.sql.query<TenantMessagingPolicyRow>(
      'SELECT * FROM tenant_messaging_policy WHERE tenant_id = ?',
      [tenantId],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      quietHours: row.quiet_hours === null ? null : (JSON.parse(row.quiet_hours) as QuietHours),
      marketingPerDay: numberOrNull(row.marketing_per_day),
      marketingPerWeek: numberOrNull(row.marketing_per_week),
      dedupWindowSeconds: numberOrNull(row.dedup_window_seconds),
      smartEncoding: Number(row.smart_encoding) === 1,
      updatedAt: Number(row.updated_at),
    };
  }

  async putTenantMessagingPolicy(tenantId: string, policy: TenantMessagingPolicy): Promise<void> {
    await this.sql.execute(this.upsertPolicy, [
      tenantId,
      policy.quietHours === null ? null : JSON.stringify(policy.quietHours),
      policy.marketingPerDay,
      policy.marketingPerWeek,
      policy.dedupWindowSeconds,
      policy.smartEncoding ? 1 : 0,
      policy.updatedAt,
    ]);
  }
}
