/** A tenant's overrides of the gateway-wide OTP settings; null: the gateway's value. */
export interface TenantOtpSettings {
  /** ISO 3166-1 alpha-2 codes codes may go to; null: PIGEON_OTP_ALLOWED_COUNTRIES. */
  allowedCountries: string[] | null;
  /** Estimated spend per UTC day (0 = no cap); null: PIGEON_OTP_DAILY_SPEND_CAP. */
  dailySpendCap: number | null;
  updatedAt: number;
}

/** Per-tenant OTP settings (api/src/verify/tenant-settings.ts). */
export interface OtpSettingsStore {
  /** The tenant's overrides of the gateway-wide OTP settings; undefined when it has none stored. */
  getTenantOtpSettings(tenantId: string): Promise<TenantOtpSettings | undefined>;
  /** Inserts or replaces the tenant's overrides. */
  putTenantOtpSettings(tenantId: string, settings: TenantOtpSettings): Promise<void>;
}
