-- Per-tenant overrides of the gateway-wide send policy (api/src/send-policy/). NULL means "the
-- gateway's value" (PIGEON_SEND_*); the spend caps are decimals as text. class_limits: JSON of
-- per-recipient caps per message class, e.g. {"marketing":{"perRecipientHour":1,"perRecipientDay":null}}.
CREATE TABLE IF NOT EXISTS tenant_send_limits (
  tenant_id TEXT NOT NULL PRIMARY KEY,
  rate_per_second INTEGER,
  burst INTEGER,
  per_recipient_hour INTEGER,
  per_recipient_day INTEGER,
  daily_spend_cap TEXT,
  monthly_spend_cap TEXT,
  class_limits TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
