-- Named leases (core/store/kinds/leases.ts): which replica does work only one may do (the
-- campaign runner), until when. Taken and renewed by compare-and-set on the row.
CREATE TABLE IF NOT EXISTS leases (
  name TEXT NOT NULL,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (name)
);
