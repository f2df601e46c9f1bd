import type { ApiKeyRecord, ApiKeyStore } from '../kinds/api-keys.ts';
import { API_KEY_COLUMNS, type ApiKeyRow, apiKeyValues, insertInto, toApiKeyRecord } from '../rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** The condition a key must meet at `?` (the time) to be in force: neither revoked nor expired. */
const IN_FORCE = 'revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)';

/** `api_keys`: keys by the hash of the whole key. */
export class SqlApiKeyStore implements ApiKeyStore {
  private readonly insertKey: string;
  private readonly insertReplacement: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    // A duplicate of any unique key (id or hash) leaves the stored key as it is.
    this.insertKey = `${insertInto('api_keys', API_KEY_COLUMNS)} ${dialect.keepExisting('id')}`;
    // The replacement is inserted only while the key it replaces is in force, so a rotation that
    // races a revocation (or a second rotation) cannot leave a new key behind a revoked one.
    this.insertReplacement = `INSERT INTO api_keys (${API_KEY_COLUMNS.join(', ')})
SELECT ${API_KEY_COLUMNS.map(() => '?').join(', ')} FROM api_keys
WHERE id = ? AND tenant_id = ? AND ${IN_FORCE}`;
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.sql.query<ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ?', [hash]);
    return rows[0] && toApiKeyRecord(rows[0]);
  }

  async putApiKey(key: ApiKeyRecord): Promise<void> {
    await this.sql.execute(this.insertKey, apiKeyValues(key));
  }

  async getApiKey(tenantId: string, id: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.sql.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = ? AND tenant_id = ?', [
      id,
      tenantId,
    ]);
    return rows[0] && toApiKeyRecord(rows[0]);
  }

  async listApiKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    // Key ids are ULIDs: id order is creation order.
    const rows = await this.sql.query<ApiKeyRow>('SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY id', [
      tenantId,
    ]);
    return rows.map(toApiKeyRecord);
  }

  async revokeApiKey(tenantId: string, id: string, at: number): Promise<boolean> {
    const affected = await this.sql.execute(
      'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL',
      [at, id, tenantId],
    );
    return affected > 0;
  }

  async rotateApiKey(
    tenantId: string,
    id: string,
    replacement: ApiKeyRecord,
    times: { now: number; expiresAt: number },
  ): Promise<boolean> {
    await this.sql.transaction([
      {
        sql: this.insertReplacement,
        params: [...apiKeyValues(replacement), id, tenantId, times.now],
      },
      {
        // Under the same condition as the insert, inside the same transaction: both or neither.
        // Never later than an expiry set by an earlier rotation.
        sql: `UPDATE api_keys SET expires_at = CASE
  WHEN expires_at IS NOT NULL AND expires_at < ? THEN expires_at ELSE ? END
WHERE id = ? AND tenant_id = ? AND ${IN_FORCE}`,
        params: [times.expiresAt, times.expiresAt, id, tenantId, times.now],
      },
    ]);
    const stored = await this.findApiKeyByHash(replacement.hash);
    return stored !== undefined && stored.id === replacement.id;
  }
}
