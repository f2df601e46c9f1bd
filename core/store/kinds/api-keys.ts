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
}

export interface ApiKeyStore {
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Inserts the key, or does nothing when a key with the same hash exists. */
  putApiKey(key: ApiKeyRecord): Promise<void>;
}
