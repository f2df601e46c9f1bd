-- The current state of each message, one row per message id (a ULID the gateway assigns).
-- Columns that only the request carries are nullable: a delivery receipt can arrive before the
-- request and must still create the row, which the request completes later. Readers fill the
-- defaults (tenant '', recipient '', class 'transactional', lane 'normal', 1 segment, GSM-7).
CREATE TABLE IF NOT EXISTS messages (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NULL,
  recipient TEXT NULL,
  sender TEXT NULL,
  message_class TEXT NULL,
  lane TEXT NULL,
  body TEXT NULL,
  segments INTEGER NULL,
  encoding TEXT NULL,
  country TEXT NULL,
  batch_id TEXT NULL,
  status TEXT NOT NULL,
  status_rank INTEGER NOT NULL,
  provider TEXT NULL,
  provider_message_id TEXT NULL,
  cost REAL NULL,
  error_code TEXT NULL,
  queued_at INTEGER NULL,
  submitted_at INTEGER NULL,
  final_at INTEGER NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_messages_tenant ON messages (tenant_id, id);
CREATE INDEX IF NOT EXISTS idx_messages_provider ON messages (provider, provider_message_id);
CREATE INDEX IF NOT EXISTS idx_messages_tenant_recipient ON messages (tenant_id, recipient, id);
