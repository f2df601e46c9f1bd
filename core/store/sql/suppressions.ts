import type { OptOutSettings } from '../../opt-out.ts';
import type {
  SuppressionPosition,
  SuppressionReason,
  SuppressionRecord,
  SuppressionStore,
} from '../kinds/suppressions.ts';
import { insertGroups, type SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

interface SuppressionRow {
  tenant_id: string;
  phone: string;
  sender: string;
  reason: string;
  created_at: number | bigint | string;
}

/** Rows per INSERT of an import: well under MySQL's placeholder limit (5 per row). */
const INSERT_GROUP = 500;

/** `suppressions` and `tenant_opt_out`: each tenant's opt-out list and keyword settings. */
export class SqlSuppressionStore implements SuppressionStore {
  private readonly upsertSettings: string;

  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.upsertSettings = `INSERT INTO tenant_opt_out (tenant_id, settings, updated_at) VALUES (?, ?, ?)
${dialect.upsert(['tenant_id'], `settings = ${v('settings')}, updated_at = ${v('updated_at')}`)}`;
  }

  async putSuppressions(records: readonly SuppressionRecord[]): Promise<void> {
    for (const group of insertGroups(this.dialect, records, INSERT_GROUP)) {
      const values = group.map(() => '(?, ?, ?, ?, ?)').join(', ');
      await this.sql.execute(
        `INSERT INTO suppressions (tenant_id, phone, sender, reason, created_at) VALUES ${values}
${this.dialect.keepExisting('created_at', ['tenant_id', 'phone', 'sender'])}`,
        group.flatMap((r) => [r.tenantId, r.phone, r.sender, r.reason, r.createdAt]),
      );
    }
  }

  async deleteSuppressions(tenantId: string, phone: string, sender?: string): Promise<number> {
    if (sender === undefined) {
      return this.sql.execute('DELETE FROM suppressions WHERE tenant_id = ? AND phone = ?', [
        tenantId,
        phone,
      ]);
    }
    return this.sql.execute('DELETE FROM suppressions WHERE tenant_id = ? AND phone = ? AND sender = ?', [
      tenantId,
      phone,
      sender,
    ]);
  }

  async suppressionScopes(tenantId: string, phone: string): Promise<string[]> {
    const rows = await this.sql.query<{ sender: string }>(
      'SELECT sender FROM suppressions WHERE tenant_id = ? AND phone = ? ORDER BY sender',
      [tenantId, phone],
    );
    return rows.map((r) => r.sender);
  }

  async listSuppressions(
    tenantId: string,
    options: { limit: number; after?: SuppressionPosition },
  ): Promise<SuppressionRecord[]> {
    const after = options.after;
    const rows = after
      ? await this.sql.query<SuppressionRow>(
          `SELECT * FROM suppressions WHERE tenant_id = ? AND (phone > ? OR (phone = ? AND sender > ?))
ORDER BY phone, sender LIMIT ?`,
          [tenantId, after.phone, after.phone, after.sender, options.limit],
        )
      : await this.sql.query<SuppressionRow>(
          'SELECT * FROM suppressions WHERE tenant_id = ? ORDER BY phone, sender LIMIT ?',
          [tenantId, options.limit],
        );
    return rows.map(toSuppressionRecord);
  }

  async getOptOutSettings(tenantId: string): Promise<OptOutSettings | undefined> {
    const rows = await this.sql.query<{ settings: string }>(
      'SELECT settings FROM tenant_opt_out WHERE tenant_id = ?',
      [tenantId],
    );
    return rows[0] ? (JSON.parse(rows[0].settings) as OptOutSettings) : undefined;
  }

  async putOptOutSettings(tenantId: string, settings: OptOutSettings, updatedAt: number): Promise<void> {
    await this.sql.execute(this.upsertSettings, [tenantId, JSON.stringify(settings), updatedAt]);
  }
}

function toSuppressionRecord(row: SuppressionRow): SuppressionRecord {
  return {
    tenantId: row.tenant_id,
    phone: row.phone,
    sender: row.sender,
    reason: row.reason as SuppressionReason,
    createdAt: Number(row.created_at),
  };
}
