-- messages.attempt: the provider attempt that `provider` and `provider_message_id` come from, so
-- a later attempt (a failover copy) replaces them whatever order the events arrive in.
-- idx_messages_tenant_status serves GET /v1/messages?status=…, newest first.
-- SQLite runs a migration in one transaction, so this cannot be half applied.
ALTER TABLE messages ADD COLUMN attempt INTEGER NULL;
CREATE INDEX IF NOT EXISTS idx_messages_tenant_status ON messages (tenant_id, status, id);
