-- The API key lifecycle (/v1/admin/tenants/:id/keys): expires_at ends a key rotated away from
-- once its overlap is over (NULL: no end); hint is the key's last four characters, shown in
-- listings so people can tell keys apart (NULL for keys made before this column).
-- One statement, so it applies whole or not at all. No IF NOT EXISTS: MySQL has none for columns.
ALTER TABLE api_keys
  ADD COLUMN expires_at BIGINT NULL,
  ADD COLUMN hint VARCHAR(8) NULL;
