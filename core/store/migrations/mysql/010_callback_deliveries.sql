-- The outbox of status callbacks: one row per status event of a message that has a destination,
-- written before the consumer commits its offset (at-least-once), then delivered by a worker
-- with retries. The id is the event's id, so a replayed event adds nothing and receivers dedupe
-- by it. `host` (host:port of the URL, '' while unresolved) is what concurrency is limited per;
-- `lease_token` marks a delivery a worker has claimed until `next_attempt_at`.
CREATE TABLE IF NOT EXISTS callback_deliveries (
  id CHAR(26) NOT NULL,
  tenant_id VARCHAR(64) NOT NULL,
  message_id CHAR(26) NOT NULL,
  url VARCHAR(2048) NULL,
  host VARCHAR(255) NOT NULL,
  payload TEXT NOT NULL,
  state VARCHAR(16) NOT NULL,
  attempts INT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  lease_token CHAR(26) NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_status INT NULL,
  last_error VARCHAR(255) NULL,
  PRIMARY KEY (id),
  KEY idx_callback_deliveries_due (state, next_attempt_at),
  KEY idx_callback_deliveries_host (host, state, next_attempt_at),
  KEY idx_callback_deliveries_age (state, created_at)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
