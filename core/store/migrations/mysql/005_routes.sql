-- Routing rules. The id is a ULID the API assigns (or a readable id from PIGEON_CONFIG); the rule
-- itself is JSON text, with priority and enabled kept as columns for listing in order.
CREATE TABLE IF NOT EXISTS routes (
  id VARCHAR(64) NOT NULL,
  priority INT NOT NULL,
  definition MEDIUMTEXT NOT NULL,
  enabled TINYINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
