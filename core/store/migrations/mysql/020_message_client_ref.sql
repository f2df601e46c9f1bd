-- The client's own reference on a message (`clientRef`, searched by GET /v1/messages?clientRef=)
-- and its labels (`metadata`, a JSON object of strings, at most 2 KiB), both from the request
-- (message.requested) and echoed in status callbacks. The index serves the listing's filter
-- newest first, like idx_messages_tenant_recipient.
-- One statement, so it applies whole or not at all (TiDB: a multi-schema change, v6.2 and
-- later). No IF NOT EXISTS: MySQL has none for columns and indexes; only a crash between this
-- statement and the recording of the version would need the columns dropped by hand.
ALTER TABLE messages
  ADD COLUMN client_ref VARCHAR(128) NULL,
  ADD COLUMN metadata TEXT NULL,
  ADD INDEX idx_messages_tenant_client_ref (tenant_id, client_ref, id);
