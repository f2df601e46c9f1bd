-- Tenants an operator runs through /v1/admin/tenants. A row is optional: a tenant whose keys
-- predate this table (or came from `pigeon create-api-key`) has none and is active. `status` is
-- 'active' or 'suspended'; a suspended tenant's keys are refused on every route.
CREATE TABLE IF NOT EXISTS tenants (
  id VARCHAR(64) NOT NULL,
  name VARCHAR(255) NOT NULL,
  status VARCHAR(16) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
