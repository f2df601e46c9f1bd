-- The current state of each message, one row per message id (a ULID the gateway assigns).
-- Columns that only the request carries are nullable: a delivery receipt can arrive before the
-- request and must still create the row, which the request completes later. Readers fill the
-- defaults (tenant '', recipient '', class 'transactional', lane 'normal', 1 segment, GSM-7).
-- Binary collation so tenant ids and provider ids compare exactly, as they do on TiDB by default.
-- TiDB: ids grow with time, so a clustered primary key would send every insert to the last
-- region; NONCLUSTERED with SHARD_ROW_ID_BITS spreads the rows (docs/tidb.md). Other servers read
-- /*T! … */ as a plain comment, and a table created before these hints is left as it is.
CREATE TABLE IF NOT EXISTS messages (
  id CHAR(26) NOT NULL,
  tenant_id VARCHAR(64) NULL,
  recipient VARCHAR(32) NULL,
  sender VARCHAR(32) NULL,
  message_class VARCHAR(16) NULL,
  lane VARCHAR(16) NULL,
  body TEXT NULL,
  segments INT NULL,
  encoding VARCHAR(8) NULL,
  country VARCHAR(8) NULL,
  batch_id VARCHAR(64) NULL,
  status VARCHAR(16) NOT NULL,
  status_rank INT NOT NULL,
  provider VARCHAR(64) NULL,
  provider_message_id VARCHAR(128) NULL,
  cost DECIMAL(12, 6) NULL,
  error_code VARCHAR(64) NULL,
  queued_at BIGINT NULL,
  submitted_at BIGINT NULL,
  final_at BIGINT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id) /*T![clustered_index] NONCLUSTERED */,
  KEY idx_messages_tenant (tenant_id, id),
  KEY idx_messages_provider (provider, provider_message_id),
  KEY idx_messages_tenant_recipient (tenant_id, recipient, id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin /*T! SHARD_ROW_ID_BITS = 4 PRE_SPLIT_REGIONS = 4 */;
