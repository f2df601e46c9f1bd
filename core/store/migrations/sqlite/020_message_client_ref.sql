-- The client's own reference on a message (`clientRef`, searched by GET /v1/messages?clientRef=)
-- and its labels (`metadata`, a JSON object of strings, at most 2 KiB), both from the request
-- (message.requested) and echoed in status callbacks. The index serves the listing's filter
-- newest first, like idx_messages_tenant_recipient.
-- SQLite runs a migration in one transaction, so this cannot be half applied.
ALTER TABLE messages ADD COLUMN client_ref TEXT NULL;
ALTER TABLE messages ADD COLUMN metadata TEXT NULL;
CREATE INDEX IF NOT EXISTS idx_messages_tenant_client_ref ON messages (tenant_id, client_ref, id);
