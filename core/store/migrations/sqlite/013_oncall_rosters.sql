-- On-call rosters (core/oncall.ts `Roster`): members, rotation, overrides and escalation as JSON
-- text, one per tenant and name. Read on every alert, written by the admin API.
CREATE TABLE IF NOT EXISTS oncall_rosters (
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, name)
);
