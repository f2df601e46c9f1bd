/**
 * An authenticator-app (TOTP) factor of one number of one tenant; at most one per number, a new
 * one replacing the old. Accepted in verification checks once verified (the user proved it works).
 */
export interface TotpFactorRecord {
  id: string;
  tenantId: string;
  /** E.164 number the factor belongs to. */
  recipient: string;
  /** The base32 secret sealed with AES-256-GCM under PIGEON_FACTOR_KEY (core/sealed-body.ts); never plain. */
  secret: string;
  status: 'unverified' | 'verified';
  createdAt: number;
  verifiedAt: number | null;
}

export interface FactorStore {
  /** Stores a factor, replacing any other factor of the same tenant and number. */
  putTotpFactor(factor: TotpFactorRecord): Promise<void>;
  getTotpFactor(tenantId: string, id: string): Promise<TotpFactorRecord | undefined>;
  findTotpFactor(tenantId: string, recipient: string): Promise<TotpFactorRecord | undefined>;
  /** Whether any number of the tenant has a verified factor. */
  hasVerifiedTotpFactor(tenantId: string): Promise<boolean>;
  /** Marks the factor verified (keeping the first verification time); false when there is no such factor. */
  verifyTotpFactor(tenantId: string, id: string, at: number): Promise<boolean>;
  /** False when there was no such factor. */
  deleteTotpFactor(tenantId: string, id: string): Promise<boolean>;
}
