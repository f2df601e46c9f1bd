-- Named leases (core/store/kinds/leases.ts): which replica does work only one may do (the
-- campaign runner), until when. Taken and renewed by compare-and-set on the row.
CREATE TABLE IF NOT EXISTS leases (
  name VARCHAR(64) NOT NULL,
  holder VARCHAR(128) NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (name)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
