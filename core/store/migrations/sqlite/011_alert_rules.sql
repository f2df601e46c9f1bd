-- Alerting set up through the admin API: rules (monitor/src/rules.ts `AlertRule`, JSON text; they
-- override the shipped defaults and PIGEON_CONFIG by id) and silences with their expiry.
CREATE TABLE IF NOT EXISTS alert_rules (
  id TEXT NOT NULL PRIMARY KEY,
  definition TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_silences (
  id TEXT NOT NULL PRIMARY KEY,
  matchers TEXT NOT NULL,
  starts_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  comment TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_alert_silences_ends ON alert_silences (ends_at);
