-- Per-tenant messaging policy: quiet hours (JSON {"start":"21:00","end":"08:00","byWeekday":{…}}
-- in the recipient's local time; NULL: none), marketing caps per recipient per local day and week,
-- the dedup window (NULL: the default) and whether smart encoding may replace look-alike characters.
CREATE TABLE IF NOT EXISTS tenant_messaging_policy (
  tenant_id TEXT NOT NULL PRIMARY KEY,
  quiet_hours TEXT,
  marketing_per_day INTEGER,
  marketing_per_week INTEGER,
  dedup_window_seconds INTEGER,
  smart_encoding INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
