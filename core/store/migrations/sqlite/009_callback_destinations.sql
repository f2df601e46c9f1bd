-- Where status callbacks go. A tenant's webhook (its URL, or none when the tenant only names a
-- URL per message) and the secret every callback of the tenant is signed with; the secret is kept
-- in clear because each delivery is signed with it, so this table is as sensitive as api_keys.
CREATE TABLE IF NOT EXISTS tenant_webhooks (
  tenant_id TEXT NOT NULL PRIMARY KEY,
  url TEXT NULL,
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- A message's own callback URL, from its request (message.requested `statusCallback`).
-- SQLite runs a migration in one transaction, so this cannot be half applied.
ALTER TABLE messages ADD COLUMN status_callback TEXT NULL;
