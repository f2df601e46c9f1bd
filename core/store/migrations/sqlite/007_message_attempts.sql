-- One row per provider call: what support, billing and carrier disputes need about each attempt
-- (who, when asked, when answered, their id, the outcome and its code, the cost). Written by the
-- persister from message.submitted and from message.failed naming a provider; an attempt number
-- is unique per message, so a replay changes nothing.
CREATE TABLE IF NOT EXISTS message_attempts (
  message_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  provider_message_id TEXT NULL,
  outcome TEXT NOT NULL,
  error_class TEXT NULL,
  error_code TEXT NULL,
  failover TEXT NULL,
  segments INTEGER NULL,
  cost REAL NULL,
  country TEXT NULL,
  requested_at INTEGER NULL,
  responded_at INTEGER NOT NULL,
  PRIMARY KEY (message_id, attempt)
);
CREATE INDEX IF NOT EXISTS idx_message_attempts_provider ON message_attempts (provider, provider_message_id);
