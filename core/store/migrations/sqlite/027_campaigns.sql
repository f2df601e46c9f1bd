-- Bulk campaigns (core/store/kinds/campaigns.ts). `campaigns` holds one row per campaign: its
-- state (changed only by compare-and-set), its text (template or body), schedule, rate cap,
-- counts, the runner's checkpoint (run, next_row) and lease. variables is a JSON object.
-- The idempotency key is unique per tenant (NULLs do not collide), so a retried create finds the
-- first campaign. idx_campaigns_due serves the scheduler's scan of due and unleased campaigns.
-- `campaign_recipients` holds the valid rows, numbered densely from 0 so the runner reads a range
-- of the primary key; `campaign_row_errors` the refused rows by their place in the upload.
CREATE TABLE IF NOT EXISTS campaigns (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  template_id TEXT NULL,
  body TEXT NULL,
  message_class TEXT NOT NULL,
  locale TEXT NULL,
  variables TEXT NOT NULL,
  sender TEXT NULL,
  send_at INTEGER NULL,
  time_zone TEXT NULL,
  recurrence TEXT NULL,
  rate_cap INTEGER NULL,
  recipient_count INTEGER NOT NULL DEFAULT 0,
  invalid_count INTEGER NOT NULL DEFAULT 0,
  estimated_cost REAL NULL,
  next_row INTEGER NOT NULL DEFAULT 0,
  run INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT NULL,
  request_hash TEXT NULL,
  created_by TEXT NULL,
  approved_by TEXT NULL,
  lease_owner TEXT NULL,
  lease_until INTEGER NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER NULL,
  finished_at INTEGER NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_campaigns_idempotency ON campaigns (tenant_id, idempotency_key);
CREATE INDEX IF NOT EXISTS idx_campaigns_due ON campaigns (state, send_at);
CREATE TABLE IF NOT EXISTS campaign_recipients (
  campaign_id TEXT NOT NULL,
  row_no INTEGER NOT NULL,
  e164 TEXT NOT NULL,
  variables TEXT NULL,
  client_ref TEXT NULL,
  PRIMARY KEY (campaign_id, row_no)
);
CREATE TABLE IF NOT EXISTS campaign_row_errors (
  campaign_id TEXT NOT NULL,
  row_no INTEGER NOT NULL,
  code TEXT NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (campaign_id, row_no)
);
