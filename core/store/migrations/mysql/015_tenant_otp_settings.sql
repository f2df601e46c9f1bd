-- Per-tenant overrides of the gateway-wide OTP settings (api/src/verify/tenant-settings.ts). NULL
-- means "the gateway's value": PIGEON_OTP_ALLOWED_COUNTRIES (allowed_countries, a comma list of
-- ISO 3166-1 alpha-2 codes) and PIGEON_OTP_DAILY_SPEND_CAP (daily_spend_cap).
CREATE TABLE IF NOT EXISTS tenant_otp_settings (
  tenant_id VARCHAR(64) NOT NULL PRIMARY KEY,
  allowed_countries TEXT NULL,
  daily_spend_cap DECIMAL(18, 6) NULL,
  updated_at BIGINT NOT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
