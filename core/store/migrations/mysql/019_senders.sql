-- The per-tenant sender registry (core/store/kinds/senders.ts): the alphanumeric ids and numbers
-- a tenant may send from. countries is a comma list of ISO 3166-1 alpha-2 codes ('' = any);
-- is_default marks the tenant's default sender for those countries.
CREATE TABLE IF NOT EXISTS tenant_senders (
  tenant_id VARCHAR(64) NOT NULL,
  sender VARCHAR(16) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  countries TEXT NOT NULL,
  is_default TINYINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, sender)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
