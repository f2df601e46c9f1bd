import {
  TOTP_FACTOR_COLUMNS,
  type TotpFactorRow,
  toTotpFactorRecord,
  totpFactorValues,
} from '../factor-rows.ts';
import type { FactorStore, TotpFactorRecord } from '../kinds/factors.ts';
import { insertInto } from '../rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** `totp_factors`: at most one authenticator-app factor per tenant and number. */
export class SqlFactorStore implements FactorStore {
  private readonly upsertFactor: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    // The unique (tenant_id, recipient) key makes a second factor for a number replace the first.
    this.upsertFactor = `${insertInto('totp_factors', TOTP_FACTOR_COLUMNS)}
${dialect.upsert(
  ['tenant_id', 'recipient'],
  `  id = ${v('id')}, secret = ${v('secret')}, status = ${v('status')},
  created_at = ${v('created_at')}, verified_at = ${v('verified_at')}`,
)}`;
  }

  async putTotpFactor(factor: TotpFactorRecord): Promise<void> {
    await this.sql.execute(this.upsertFactor, totpFactorValues(factor));
  }

  async getTotpFactor(tenantId: string, id: string): Promise<TotpFactorRecord | undefined> {
    const rows = await this.sql.query<TotpFactorRow>(
      'SELECT * FROM totp_factors WHERE id = ? AND tenant_id = ?',
      [id, tenantId],
    );
    return rows[0] && toTotpFactorRecord(rows[0]);
  }

  async findTotpFactor(tenantId: string, recipient: string): Promise<TotpFactorRecord | undefined> {
    const rows = await this.sql.query<TotpFactorRow>(
      'SELECT * FROM totp_factors WHERE tenant_id = ? AND recipient = ?',
      [tenantId, recipient],
    );
    return rows[0] && toTotpFactorRecord(rows[0]);
  }

  async hasVerifiedTotpFactor(tenantId: string): Promise<boolean> {
    const rows = await this.sql.query<{ found: number }>(
      "SELECT 1 AS found FROM totp_factors WHERE tenant_id = ? AND status = 'verified' LIMIT 1",
      [tenantId],
    );
    return rows.length > 0;
  }

  async verifyTotpFactor(tenantId: string, id: string, at: number): Promise<boolean> {
    const affected = await this.sql.execute(
      `UPDATE totp_factors SET status = 'verified', verified_at = COALESCE(verified_at, ?)
WHERE id = ? AND tenant_id = ?`,
      [at, id, tenantId],
    );
    return affected > 0;
  }

  async deleteTotpFactor(tenantId: string, id: string): Promise<boolean> {
    return (
      (await this.sql.execute('DELETE FROM totp_factors WHERE id = ? AND tenant_id = ?', [id, tenantId])) > 0
    );
  }
}
