-- Incidents of alert rules (monitor/src/incidents.ts): written by the monitor as they move from
-- pending to firing to resolved, acknowledged by the API (by id or SMS code). The monitor's whole
-- view — which escalation steps were told, retries — is JSON text in `detail`, so a restarted or
-- newly elected monitor carries on without repeating a notification.
CREATE TABLE IF NOT EXISTS alert_incidents (
  id VARCHAR(32) NOT NULL,
  rule_id VARCHAR(64) NOT NULL,
  fingerprint VARCHAR(512) NOT NULL,
  state VARCHAR(16) NOT NULL,
  severity VARCHAR(16) NOT NULL,
  labels TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  fired_at BIGINT NULL,
  resolved_at BIGINT NULL,
  ack_code VARCHAR(16) NOT NULL,
  acked_at BIGINT NULL,
  acked_by VARCHAR(128) NULL,
  detail MEDIUMTEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY ix_alert_incidents_state (state, id),
  KEY ix_alert_incidents_ack_code (ack_code)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
