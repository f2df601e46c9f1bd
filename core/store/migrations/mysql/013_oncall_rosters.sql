-- On-call rosters (core/oncall.ts `Roster`): members, rotation, overrides and escalation as JSON
-- text, one per tenant and name. Read on every alert, written by the admin API.
CREATE TABLE IF NOT EXISTS oncall_rosters (
  tenant_id VARCHAR(64) NOT NULL,
  name VARCHAR(64) NOT NULL,
  definition MEDIUMTEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, name)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
