-- Where status callbacks go. A tenant's webhook (its URL, or none when the tenant only names a
-- URL per message) and the secret every callback of the tenant is signed with; the secret is kept
-- in clear because each delivery is signed with it, so this table is as sensitive as api_keys.
CREATE TABLE IF NOT EXISTS tenant_webhooks (
  tenant_id VARCHAR(64) NOT NULL,
  url VARCHAR(2048) NULL,
  secret VARCHAR(128) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A message's own callback URL, from its request (message.requested `statusCallback`).
-- Last in the file because MySQL has no ADD COLUMN IF NOT EXISTS: a run that fails before it
-- repeats the harmless CREATE above; only a crash between this statement and the recording of
-- the version (one statement wide) would need the column dropped by hand.
ALTER TABLE messages ADD COLUMN status_callback VARCHAR(2048) NULL;
