-- Opt-out (core/store/kinds/suppressions.ts): the numbers a tenant may not send marketing to.
-- sender is the sender the STOP was sent to, or '*' for every sender of the tenant (STOPALL);
-- reason says how it came: keyword, api, import or provider (the provider's own opt-out refusal).
-- tenant_opt_out holds each tenant's keyword lists and auto-replies as one JSON document.
CREATE TABLE IF NOT EXISTS suppressions (
  tenant_id VARCHAR(64) NOT NULL,
  phone VARCHAR(32) NOT NULL,
  sender VARCHAR(32) NOT NULL,
  reason VARCHAR(16) NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, phone, sender)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS tenant_opt_out (
  tenant_id VARCHAR(64) NOT NULL,
  settings TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
