-- The API key lifecycle (/v1/admin/tenants/:id/keys): expires_at ends a key rotated away from
-- once its overlap is over (NULL: no end); hint is the key's last four characters, shown in
-- listings so people can tell keys apart (NULL for keys made before this column).
-- SQLite runs a migration in one transaction, so this cannot be half applied.
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER NULL;
ALTER TABLE api_keys ADD COLUMN hint TEXT NULL;
