-- The campaign a message belongs to (message.requested's campaignId), so a campaign's progress
-- is one GROUP BY over idx_messages_campaign_status (covering: no row is read) and its results
-- export a range of idx_messages_campaign (campaign_id, id). Partial indexes, as SQLite allows:
-- messages sent outside a campaign (campaign_id NULL) cost them nothing.
ALTER TABLE messages ADD COLUMN campaign_id TEXT NULL;
CREATE INDEX IF NOT EXISTS idx_messages_campaign_status
  ON messages (campaign_id, status, error_code) WHERE campaign_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_messages_campaign
  ON messages (campaign_id, id) WHERE campaign_id IS NOT NULL;
