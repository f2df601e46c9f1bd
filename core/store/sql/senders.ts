import type { SenderKind } from '../../sender-id.ts';
import type { SenderRecord, SenderStore } from '../kinds/senders.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** A `tenant_senders` row as either driver returns it. */
interface SenderRow {
  tenant_id: string;
  sender: string;
  kind: string;
  countries: string;
  is_default: number | string | boolean;
  created_at: number | bigint | string;
  updated_at: number | bigint | string;
}

const SELECT_SENDERS = 'SELECT * FROM tenant_senders WHERE tenant_id = ? ORDER BY sender';
const DELETE_SENDER = 'DELETE FROM tenant_senders WHERE tenant_id = ? AND sender = ?';

/** `tenant_senders`: the per-tenant sender registry. */
export class SqlSenderStore implements SenderStore {
  private readonly upsertSender: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.upsertSender = `INSERT INTO tenant_senders (tenant_id, sender, kind, countries, is_default, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ${dialect.upsert(
      ['tenant_id', 'sender'],
      `kind = ${v('kind')}, countries = ${v('countries')}, is_default = ${v('is_default')},
updated_at = ${v('updated_at')}`,
    )}`;
  }

  async listSenders(tenantId: string): Promise<SenderRecord[]> {
    const rows = await this.sql.query<SenderRow>(SELECT_SENDERS, [tenantId]);
    return rows.map(toSenderRecord);
  }

  async putSender(record: SenderRecord): Promise<void> {
    await this.sql.execute(this.upsertSender, [
      record.tenantId,
      record.sender,
      record.kind,
      [...record.countries].sort().join(','),
      record.isDefault ? 1 : 0,
      record.createdAt,
      record.updatedAt,
    ]);
  }

  async deleteSender(tenantId: string, sender: string): Promise<boolean> {
    return (await this.sql.execute(DELETE_SENDER, [tenantId, sender])) > 0;
  }
}

function toSenderRecord(row: SenderRow): SenderRecord {
  return {
    tenantId: row.tenant_id,
    sender: row.sender,
    kind: row.kind as SenderKind,
    countries: row.countries === '' ? [] : row.countries.split(','),
    isDefault: Number(row.is_default) === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
