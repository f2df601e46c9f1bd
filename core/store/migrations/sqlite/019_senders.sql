-- The per-tenant sender registry (core/store/kinds/senders.ts): the alphanumeric ids and numbers
-- a tenant may send from. countries is a comma list of ISO 3166-1 alpha-2 codes ('' = any);
-- is_default (0 or 1) marks the tenant's default sender for those countries.
CREATE TABLE IF NOT EXISTS tenant_senders (
  tenant_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  kind TEXT NOT NULL,
  countries TEXT NOT NULL,
  is_default INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, sender)
);
