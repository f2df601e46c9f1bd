-- Alerting set up through the admin API: rules (monitor/src/rules.ts `AlertRule`, JSON text; they
-- override the shipped defaults and PIGEON_CONFIG by id) and silences with their expiry.
CREATE TABLE IF NOT EXISTS alert_rules (
  id VARCHAR(64) NOT NULL,
  definition MEDIUMTEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS alert_silences (
  id VARCHAR(32) NOT NULL,
  matchers TEXT NOT NULL,
  starts_at BIGINT NOT NULL,
  ends_at BIGINT NOT NULL,
  created_by VARCHAR(128) NOT NULL,
  comment TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY ix_alert_silences_ends (ends_at)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
