-- API keys are stored only as the SHA-256 of the whole key; scopes are a JSON array as text.
CREATE TABLE IF NOT EXISTS api_keys (
  id CHAR(26) NOT NULL,
  tenant_id VARCHAR(64) NOT NULL,
  prefix VARCHAR(32) NOT NULL,
  hash CHAR(64) NOT NULL,
  scopes TEXT NOT NULL,
  name VARCHAR(255) NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_api_keys_hash (hash),
  KEY idx_api_keys_tenant (tenant_id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
