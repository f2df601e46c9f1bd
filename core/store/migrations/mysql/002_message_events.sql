-- Append-only history. The event id is the primary key so a replayed event adds nothing.
-- TiDB: event ids grow with time; see 001_messages.sql for the hints.
CREATE TABLE IF NOT EXISTS message_events (
  event_id CHAR(26) NOT NULL,
  message_id CHAR(26) NOT NULL,
  tenant_id VARCHAR(64) NOT NULL,
  type VARCHAR(32) NOT NULL,
  status VARCHAR(16) NOT NULL,
  provider VARCHAR(64) NULL,
  provider_message_id VARCHAR(128) NULL,
  detail TEXT NULL,
  occurred_at BIGINT NOT NULL,
  PRIMARY KEY (event_id) /*T![clustered_index] NONCLUSTERED */,
  KEY idx_message_events_message (message_id, occurred_at)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin /*T! SHARD_ROW_ID_BITS = 4 PRE_SPLIT_REGIONS = 4 */;
