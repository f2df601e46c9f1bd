-- Routing rules. The id is a ULID the API assigns (or a readable id from PIGEON_CONFIG); the rule
-- itself is JSON text, with priority and enabled kept as columns for listing in order.
CREATE TABLE IF NOT EXISTS routes (
  id TEXT NOT NULL PRIMARY KEY,
  priority INTEGER NOT NULL,
  definition TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
