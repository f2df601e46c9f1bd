import type { ApiKeyRecord, ApiKeyStore } from '../kinds/api-keys.ts';
import { API_KEY_COLUMNS, type ApiKeyRow, apiKeyValues, insertInto, toApiKeyRecord } from '../rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** `api_keys`: keys by the hash of the whole key. */
export class SqlApiKeyStore implements ApiKeyStore {
  private readonly insertKey: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    // A duplicate of any unique key (id or hash) leaves the stored key as it is.
    this.insertKey = `${insertInto('api_keys', API_KEY_COLUMNS)} ${dialect.keepExisting('id')}`;
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.sql.query<ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ?', [hash]);
    return rows[0] && toApiKeyRecord(rows[0]);
  }

  async putApiKey(key: ApiKeyRecord): Promise<void> {
    await this.sql.execute(this.insertKey, apiKeyValues(key));
  }
}
