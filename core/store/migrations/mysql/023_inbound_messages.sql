-- Inbound (MO) SMS (core/store/kinds/inbound.ts), one row per reassembled message, listed per
-- tenant newest first by id (a ULID). (provider, provider_message_id) is unique so a provider's
-- retry of the same webhook is stored, answered and forwarded once. in_reply_to is the outbound
-- message it answers, when known.
CREATE TABLE IF NOT EXISTS inbound_messages (
  id CHAR(26) NOT NULL,
  tenant_id VARCHAR(64) NOT NULL,
  provider VARCHAR(64) NOT NULL,
  provider_message_id VARCHAR(128) NOT NULL,
  sender_phone VARCHAR(32) NOT NULL,
  recipient VARCHAR(32) NOT NULL,
  body TEXT NOT NULL,
  parts INT NOT NULL,
  keyword VARCHAR(16) NULL,
  in_reply_to CHAR(26) NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_inbound_provider (provider, provider_message_id),
  KEY idx_inbound_tenant (tenant_id, id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
