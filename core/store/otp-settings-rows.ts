import type { TenantOtpSettings } from './kinds/otp-settings.ts';

/** A `tenant_otp_settings` row as either driver returns it (MySQL gives DECIMAL as a string). */
export interface TenantOtpSettingsRow {
  tenant_id: string;
  allowed_countries: string | null;
  daily_spend_cap: string | number | null;
  updated_at: number | bigint | string;
}

export function toTenantOtpSettings(row: TenantOtpSettingsRow): TenantOtpSettings {
  return {
    allowedCountries:
      row.allowed_countries === null ? null : row.allowed_countries.split(',').filter((c) => c !== ''),
    dailySpendCap: row.daily_spend_cap === null ? null : Number(row.daily_spend_cap),
    updatedAt: Number(row.updated_at),
  };
}

/** Values for (tenant_id, allowed_countries, daily_spend_cap, updated_at). */
export function tenantOtpSettingsValues(
  tenantId: string,
  settings: TenantOtpSettings,
): [string, string | null, string | null, number] {
  return [
    tenantId,
    settings.allowedCountries === null ? null : settings.allowedCountries.join(','),
    // As text: exact in SQLite's TEXT column and in MySQL's DECIMAL, whatever the float.
    settings.dailySpendCap === null ? null : String(settings.dailySpendCap),
    settings.updatedAt,
  ];
}
