-- Authenticator-app factors: one per tenant and number, the secret sealed with AES-256-GCM.
CREATE TABLE IF NOT EXISTS totp_factors (
  id CHAR(26) NOT NULL,
  tenant_id VARCHAR(64) NOT NULL,
  recipient VARCHAR(32) NOT NULL,
  secret VARCHAR(255) NOT NULL,
  status VARCHAR(16) NOT NULL,
  created_at BIGINT NOT NULL,
  verified_at BIGINT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_totp_factors_recipient (tenant_id, recipient)
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
