-- Tenants an operator runs through /v1/admin/tenants. A row is optional: a tenant whose keys
-- predate this table (or came from `pigeon create-api-key`) has none and is active. `status` is
-- 'active' or 'suspended'; a suspended tenant's keys are refused on every route.
CREATE TABLE IF NOT EXISTS tenants (
  id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
