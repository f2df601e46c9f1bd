-- Provider definitions, written through the admin API (or seeded from PIGEON_CONFIG) and polled by
-- every bridge and API process. `definition` is the whole definition as JSON text, credentials
-- included, so this table is as sensitive as the environment. updated_at strictly increases on
-- every write of a row, which is what routing_version polling relies on.
CREATE TABLE IF NOT EXISTS providers (
  name VARCHAR(64) NOT NULL,
  type VARCHAR(64) NOT NULL,
  definition MEDIUMTEXT NOT NULL,
  enabled TINYINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (name)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
