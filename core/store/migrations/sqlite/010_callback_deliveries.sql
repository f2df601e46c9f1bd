-- The outbox of status callbacks: one row per status event of a message that has a destination,
-- written before the consumer commits its offset (at-least-once), then delivered by a worker
-- with retries. The id is the event's id, so a replayed event adds nothing and receivers dedupe
-- by it. `host` (host:port of the URL, '' while unresolved) is what concurrency is limited per;
-- `lease_token` marks a delivery a worker has claimed until `next_attempt_at`.
CREATE TABLE IF NOT EXISTS callback_deliveries (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  url TEXT NULL,
  host TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  lease_token TEXT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_status INTEGER NULL,
  last_error TEXT NULL
);
CREATE INDEX IF NOT EXISTS idx_callback_deliveries_due ON callback_deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS idx_callback_deliveries_host ON callback_deliveries (host, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS idx_callback_deliveries_age ON callback_deliveries (state, created_at);
