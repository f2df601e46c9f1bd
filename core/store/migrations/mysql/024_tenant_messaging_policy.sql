-- Per-tenant messaging policy: quiet hours (JSON {"start":"21:00","end":"08:00","byWeekday":{…}}
-- in the recipient's local time; NULL: none), marketing caps per recipient per local day and week,
-- the dedup window (NULL: the default) and whether smart encoding may replace look-alike characters.
CREATE TABLE IF NOT EXISTS tenant_messaging_policy (
  tenant_id VARCHAR(64) NOT NULL PRIMARY KEY,
  quiet_hours TEXT NULL,
  marketing_per_day INT NULL,
  marketing_per_week INT NULL,
  dedup_window_seconds INT NULL,
  smart_encoding TINYINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
