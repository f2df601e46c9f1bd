export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  /** First characters of the key, shown to people so they can tell keys apart. */
  prefix: string;
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  hash: string;
  scopes: string[];
  name: string;
  createdAt: number;
  revokedAt: number | null;
  /** When the key stops working (a key rotated away from, after its overlap); null: never. */
  expiresAt: number | null;
  /** The key's last four characters, listed so people can tell keys apart; null for older keys. */
  hint: string | null;
}

export interface ApiKeyStore {
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Inserts the key, or does nothing when a key with the same hash exists. */
  putApiKey(key: ApiKeyRecord): Promise<void>;
  getApiKey(tenantId: string, id: string): Promise<ApiKeyRecord | undefined>;
  /** The tenant's keys, revoked and expired ones included, oldest first. */
  listApiKeys(tenantId: string): Promise<ApiKeyRecord[]>;
  /** Revokes the key at `at`; false when the tenant has no such key or it was revoked already. */
  revokeApiKey(tenantId: string, id: string, at: number): Promise<boolean>;
  /**
   * Stores `replacement` and makes the key `id` expire at `expiresAt` (or earlier, if it was to
   * already), both or neither; false (nothing changed) when the tenant has no such key in force at
   * `now` (unknown, revoked or expired).
   */
  rotateApiKey(
    tenantId: string,
    id: string,
    replacement: ApiKeyRecord,
    times: { now: number; expiresAt: number },
  ): Promise<boolean>;
}
