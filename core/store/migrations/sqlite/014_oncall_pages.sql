-- Pages: one per firing alert sent to a roster. The escalation chain and the deliveries are JSON
-- text; status and level change by compare-and-set, so of several api replicas sweeping for due
-- escalations exactly one pages the next member.
CREATE TABLE IF NOT EXISTS oncall_pages (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  roster TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status TEXT NOT NULL,
  severity TEXT NOT NULL,
  title TEXT NOT NULL,
  level INTEGER NOT NULL,
  chain TEXT NOT NULL,
  deliveries TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  escalate_at INTEGER NULL,
  acknowledged_at INTEGER NULL,
  acknowledged_by TEXT NULL,
  resolved_at INTEGER NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_oncall_pages_alert ON oncall_pages (tenant_id, fingerprint, status);
CREATE INDEX IF NOT EXISTS ix_oncall_pages_due ON oncall_pages (status, escalate_at);
