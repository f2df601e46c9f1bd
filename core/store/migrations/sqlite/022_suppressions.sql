-- Opt-out (core/store/kinds/suppressions.ts): the numbers a tenant may not send marketing to.
-- sender is the sender the STOP was sent to, or '*' for every sender of the tenant (STOPALL);
-- reason says how it came: keyword, api, import or provider (the provider's own opt-out refusal).
-- tenant_opt_out holds each tenant's keyword lists and auto-replies as one JSON document.
CREATE TABLE IF NOT EXISTS suppressions (
  tenant_id TEXT NOT NULL,
  phone TEXT NOT NULL,
  sender TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, phone, sender)
);
CREATE TABLE IF NOT EXISTS tenant_opt_out (
  tenant_id TEXT NOT NULL PRIMARY KEY,
  settings TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
