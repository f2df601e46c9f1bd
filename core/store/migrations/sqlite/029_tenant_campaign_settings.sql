-- Each tenant's campaign approval thresholds (core/store/kinds/campaigns.ts): a campaign with more
-- valid recipients than max_recipients, or an estimated cost above max_cost, waits in
-- pending_approval for a key with the campaigns:approve scope. NULL: no threshold of that kind;
-- no row: no approval needed.
CREATE TABLE IF NOT EXISTS tenant_campaign_settings (
  tenant_id TEXT NOT NULL PRIMARY KEY,
  max_recipients INTEGER NULL,
  max_cost REAL NULL,
  updated_at INTEGER NOT NULL
);
