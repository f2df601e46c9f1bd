-- Campaign rows the runner expanded but did not send (core/store/kinds/campaigns.ts,
-- CampaignUnsentStore): refused by the send policy (opt-out, frequency cap, country…), a
-- duplicate of a message already sent, or a message that could not be built. One row per
-- (campaign, run, row): a runner that expands a chunk again after a crash writes the same keys.
-- The runner counts them to know how many messages a run makes, so it can tell when it is over.
CREATE TABLE IF NOT EXISTS campaign_unsent_rows (
  campaign_id TEXT NOT NULL,
  run INTEGER NOT NULL,
  row_no INTEGER NOT NULL,
  code TEXT NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (campaign_id, run, row_no)
);
