-- Append-only history. The event id is the primary key so a replayed event adds nothing.
CREATE TABLE IF NOT EXISTS message_events (
  event_id TEXT NOT NULL PRIMARY KEY,
  message_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  provider TEXT NULL,
  provider_message_id TEXT NULL,
  detail TEXT NULL,
  occurred_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_message_events_message ON message_events (message_id, occurred_at);
