-- The client's own reference on a message (`clientRef`, searched by GET /v1/messages?clientRef=)
-- and its labels (`metadata`, a JSON object of strings, at most 2 KiB), both from the request
-- (message.requested) and echoed in status callbacks. The index serves the listing's filter
-- newest first, like idx_messages_tenant_recipient.
-- One statement because MySQL has no ADD COLUMN IF NOT EXISTS: it applies whole or not at all.
ALTER TABLE messages
  ADD COLUMN client_ref VARCHAR(128) NULL,
  ADD COLUMN metadata TEXT NULL,
  ADD INDEX idx_messages_tenant_client_ref (tenant_id, client_ref, id);
