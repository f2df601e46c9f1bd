-- Pages: one per firing alert sent to a roster. The escalation chain and the deliveries are JSON
-- text; status and level change by compare-and-set, so of several api replicas sweeping for due
-- escalations exactly one pages the next member.
CREATE TABLE IF NOT EXISTS oncall_pages (
  id CHAR(26) NOT NULL,
  tenant_id VARCHAR(64) NOT NULL,
  roster VARCHAR(64) NOT NULL,
  fingerprint VARCHAR(128) NOT NULL,
  status VARCHAR(16) NOT NULL,
  severity VARCHAR(16) NOT NULL,
  title VARCHAR(512) NOT NULL,
  level INT NOT NULL,
  chain TEXT NOT NULL,
  deliveries TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  escalate_at BIGINT NULL,
  acknowledged_at BIGINT NULL,
  acknowledged_by VARCHAR(128) NULL,
  resolved_at BIGINT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY ix_oncall_pages_alert (tenant_id, fingerprint, status),
  KEY ix_oncall_pages_due (status, escalate_at)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
