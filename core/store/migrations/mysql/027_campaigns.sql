-- Bulk campaigns (core/store/kinds/campaigns.ts). `campaigns` holds one row per campaign: its
-- state (changed only by compare-and-set), its text (template or body), schedule, rate cap,
-- counts, the runner's checkpoint (run, next_row) and lease. variables is a JSON object.
-- The idempotency key is unique per tenant (NULLs do not collide), so a retried create finds the
-- first campaign. idx_campaigns_due serves the scheduler's scan of due and unleased campaigns.
-- `campaign_recipients` holds the valid rows, numbered densely from 0 so the runner reads a range
-- of the primary key; `campaign_row_errors` the refused rows by their place in the upload.
-- Campaign ids are ULIDs, unique across tenants, so the child tables are keyed by them alone.
CREATE TABLE IF NOT EXISTS campaigns (
  tenant_id VARCHAR(64) NOT NULL,
  id CHAR(26) NOT NULL,
  name VARCHAR(128) NOT NULL,
  state VARCHAR(20) NOT NULL,
  template_id VARCHAR(32) NULL,
  body TEXT NULL,
  message_class VARCHAR(16) NOT NULL,
  locale VARCHAR(35) NULL,
  variables TEXT NOT NULL,
  sender VARCHAR(32) NULL,
  send_at BIGINT NULL,
  time_zone VARCHAR(64) NULL,
  recurrence VARCHAR(16) NULL,
  rate_cap INT NULL,
  recipient_count INT NOT NULL DEFAULT 0,
  invalid_count INT NOT NULL DEFAULT 0,
  estimated_cost DECIMAL(16, 6) NULL,
  next_row INT NOT NULL DEFAULT 0,
  run INT NOT NULL DEFAULT 0,
  idempotency_key VARCHAR(255) NULL,
  request_hash CHAR(64) NULL,
  created_by VARCHAR(64) NULL,
  approved_by VARCHAR(64) NULL,
  lease_owner VARCHAR(64) NULL,
  lease_until BIGINT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  started_at BIGINT NULL,
  finished_at BIGINT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE KEY uq_campaigns_idempotency (tenant_id, idempotency_key),
  KEY idx_campaigns_due (state, send_at)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS campaign_recipients (
  campaign_id CHAR(26) NOT NULL,
  row_no INT NOT NULL,
  e164 VARCHAR(32) NOT NULL,
  variables TEXT NULL,
  client_ref VARCHAR(128) NULL,
  PRIMARY KEY (campaign_id, row_no)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS campaign_row_errors (
  campaign_id CHAR(26) NOT NULL,
  row_no INT NOT NULL,
  code VARCHAR(64) NOT NULL,
  reason VARCHAR(512) NOT NULL,
  PRIMARY KEY (campaign_id, row_no)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
