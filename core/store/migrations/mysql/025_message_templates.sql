-- Per-tenant message templates (core/store/kinds/templates.ts): named variables and per-locale
-- variants. variants is a JSON array of {locale, body}; variables a sorted comma list.
CREATE TABLE IF NOT EXISTS message_templates (
  tenant_id VARCHAR(64) NOT NULL,
  id VARCHAR(32) NOT NULL,
  name VARCHAR(128) NOT NULL,
  class VARCHAR(16) NOT NULL,
  default_locale VARCHAR(35) NOT NULL,
  variants MEDIUMTEXT NOT NULL,
  variables TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
