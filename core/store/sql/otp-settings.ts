import type { OtpSettingsStore, TenantOtpSettings } from '../kinds/otp-settings.ts';
import {
  type TenantOtpSettingsRow,
  tenantOtpSettingsValues,
  toTenantOtpSettings,
} from '../otp-settings-rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

const SELECT_TENANT_OTP_SETTINGS = 'SELECT * FROM tenant_otp_settings WHERE tenant_id = ?';

/** `tenant_otp_settings`: a tenant's overrides of the gateway-wide OTP settings. */
export class SqlOtpSettingsStore implements OtpSettingsStore {
  private readonly upsertSettings: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.upsertSettings = `INSERT INTO tenant_otp_settings (tenant_id, allowed_countries, daily_spend_cap, updated_at)
VALUES (?, ?, ?, ?) ${dialect.upsert(
      ['tenant_id'],
      `allowed_countries = ${v('allowed_countries')},
daily_spend_cap = ${v('daily_spend_cap')}, updated_at = ${v('updated_at')}`,
    )}`;
  }

  async getTenantOtpSettings(tenantId: string): Promise<TenantOtpSettings | undefined> {
    const rows = await this.sql.query<TenantOtpSettingsRow>(SELECT_TENANT_OTP_SETTINGS, [tenantId]);
    return rows[0] && toTenantOtpSettings(rows[0]);
  }

  async putTenantOtpSettings(tenantId: string, settings: TenantOtpSettings): Promise<void> {
    await this.sql.execute(this.upsertSettings, tenantOtpSettingsValues(tenantId, settings));
  }
}
