-- The campaign a message belongs to (message.requested's campaignId), so a campaign's progress
-- is one GROUP BY over idx_messages_campaign_status (covering: no row is read) and its results
-- export a range of idx_messages_campaign (campaign_id, id). Messages sent outside a campaign
-- have NULL here.
-- One statement, so it applies whole or not at all (TiDB: a multi-schema change, v6.2 and
-- later). No IF NOT EXISTS: MySQL has none for columns and indexes; only a crash between this
-- statement and the recording of the version would need the column dropped by hand.
ALTER TABLE messages
  ADD COLUMN campaign_id CHAR(26) NULL,
  ADD INDEX idx_messages_campaign_status (campaign_id, status, error_code),
  ADD INDEX idx_messages_campaign (campaign_id, id);
