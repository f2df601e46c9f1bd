-- One row per provider call: what support, billing and carrier disputes need about each attempt
-- (who, when asked, when answered, their id, the outcome and its code, the cost). Written by the
-- persister from message.submitted and from message.failed naming a provider; an attempt number
-- is unique per message, so a replay changes nothing.
-- TiDB: message ids are ULIDs, which grow with time, so a clustered primary key would send every
-- insert to the last region. NONCLUSTERED with SHARD_ROW_ID_BITS spreads the rows over 2^4
-- shards (docs/tidb.md). Other servers read /*T! … */ as a plain comment.
-- (provider, provider_message_id) finds the message a provider's own id belongs to, for any
-- copy, not only the latest one that messages keeps.
CREATE TABLE IF NOT EXISTS message_attempts (
  message_id CHAR(26) NOT NULL,
  attempt INT NOT NULL,
  tenant_id VARCHAR(64) NOT NULL,
  event_id CHAR(26) NOT NULL,
  provider VARCHAR(64) NOT NULL,
  provider_message_id VARCHAR(128) NULL,
  outcome VARCHAR(16) NOT NULL,
  error_class VARCHAR(32) NULL,
  error_code VARCHAR(64) NULL,
  failover VARCHAR(32) NULL,
  segments INT NULL,
  cost DECIMAL(12, 6) NULL,
  country VARCHAR(8) NULL,
  requested_at BIGINT NULL,
  responded_at BIGINT NOT NULL,
  PRIMARY KEY (message_id, attempt) /*T![clustered_index] NONCLUSTERED */,
  KEY idx_message_attempts_provider (provider, provider_message_id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin /*T! SHARD_ROW_ID_BITS = 4 PRE_SPLIT_REGIONS = 4 */;
