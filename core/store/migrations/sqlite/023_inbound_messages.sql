-- Inbound (MO) SMS (core/store/kinds/inbound.ts), one row per reassembled message, listed per
-- tenant newest first by id (a ULID). (provider, provider_message_id) is unique so a provider's
-- retry of the same webhook is stored, answered and forwarded once. in_reply_to is the outbound
-- message it answers, when known.
CREATE TABLE IF NOT EXISTS inbound_messages (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  provider_message_id TEXT NOT NULL,
  sender_phone TEXT NOT NULL,
  recipient TEXT NOT NULL,
  body TEXT NOT NULL,
  parts INTEGER NOT NULL,
  keyword TEXT NULL,
  in_reply_to TEXT NULL,
  received_at INTEGER NOT NULL,
  UNIQUE (provider, provider_message_id)
);
CREATE INDEX IF NOT EXISTS idx_inbound_tenant ON inbound_messages (tenant_id, id);
