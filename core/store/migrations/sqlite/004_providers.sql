-- Provider definitions, written through the admin API (or seeded from PIGEON_CONFIG) and polled by
-- every bridge and API process. `definition` is the whole definition as JSON text, credentials
-- included, so this table is as sensitive as the environment. updated_at strictly increases on
-- every write of a row, which is what routing_version polling relies on.
CREATE TABLE IF NOT EXISTS providers (
  name TEXT NOT NULL PRIMARY KEY,
  type TEXT NOT NULL,
  definition TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
