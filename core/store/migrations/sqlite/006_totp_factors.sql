-- Authenticator-app factors: one per tenant and number, the secret sealed with AES-256-GCM.
CREATE TABLE IF NOT EXISTS totp_factors (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  recipient TEXT NOT NULL,
  secret TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  verified_at INTEGER NULL,
  UNIQUE (tenant_id, recipient)
);
