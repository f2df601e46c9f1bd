-- Incidents of alert rules (monitor/src/incidents.ts): written by the monitor as they move from
-- pending to firing to resolved, acknowledged by the API (by id or SMS code). The monitor's whole
-- view — which escalation steps were told, retries — is JSON text in `detail`, so a restarted or
-- newly elected monitor carries on without repeating a notification.
CREATE TABLE IF NOT EXISTS alert_incidents (
  id TEXT NOT NULL PRIMARY KEY,
  rule_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL,
  severity TEXT NOT NULL,
  labels TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  fired_at INTEGER NULL,
  resolved_at INTEGER NULL,
  ack_code TEXT NOT NULL,
  acked_at INTEGER NULL,
  acked_by TEXT NULL,
  detail TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_alert_incidents_state ON alert_incidents (state, id);
CREATE INDEX IF NOT EXISTS ix_alert_incidents_ack_code ON alert_incidents (ack_code);
