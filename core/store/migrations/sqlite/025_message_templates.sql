-- Per-tenant message templates (core/store/kinds/templates.ts): named variables and per-locale
-- variants. variants is a JSON array of {locale, body}; variables a sorted comma list.
CREATE TABLE IF NOT EXISTS message_templates (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  class TEXT NOT NULL,
  default_locale TEXT NOT NULL,
  variants TEXT NOT NULL,
  variables TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
