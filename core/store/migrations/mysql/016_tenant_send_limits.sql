-- Per-tenant overrides of the gateway-wide send policy (api/src/send-policy/). NULL means "the
-- gateway's value" (PIGEON_SEND_*). class_limits: JSON of per-recipient caps per message class,
-- e.g. {"marketing":{"perRecipientHour":1,"perRecipientDay":null}}.
CREATE TABLE IF NOT EXISTS tenant_send_limits (
  tenant_id VARCHAR(64) NOT NULL PRIMARY KEY,
  rate_per_second INT NULL,
  burst INT NULL,
  per_recipient_hour INT NULL,
  per_recipient_day INT NULL,
  daily_spend_cap DECIMAL(18, 6) NULL,
  monthly_spend_cap DECIMAL(18, 6) NULL,
  class_limits TEXT NOT NULL,
  updated_at BIGINT NOT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
