-- messages.attempt: the provider attempt that `provider` and `provider_message_id` come from, so
-- a later attempt (a failover copy) replaces them whatever order the events arrive in.
-- idx_messages_tenant_status serves GET /v1/messages?status=…, newest first: the statuses worth
-- filtering on (failed, undelivered) are rare, and (tenant_id, id) would scan past the rest.
-- One statement, so it applies whole or not at all (TiDB: a multi-schema change, v6.2 and
-- later). No IF NOT EXISTS: MySQL has none for columns and indexes; only a crash between this
-- statement and the recording of the version would need the column dropped by hand.
ALTER TABLE messages
  ADD COLUMN attempt INT NULL,
  ADD INDEX idx_messages_tenant_status (tenant_id, status, id);
