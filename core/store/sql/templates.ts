import type { MessageClass } from '../../message.ts';
import type { TemplateRecord, TemplateStore, TemplateVariant } from '../kinds/templates.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** A `message_templates` row as either driver returns it. */
interface TemplateRow {
  tenant_id: string;
  id: string;
  name: string;
  class: string;
  default_locale: string;
  variants: string;
  variables: string;
  created_at: number | bigint | string;
  updated_at: number | bigint | string;
}

const SELECT_TEMPLATES = 'SELECT * FROM message_templates WHERE tenant_id = ? ORDER BY id';
const SELECT_TEMPLATE = 'SELECT * FROM message_templates WHERE tenant_id = ? AND id = ?';
const DELETE_TEMPLATE = 'DELETE FROM message_templates WHERE tenant_id = ? AND id = ?';

/** `message_templates`: the per-tenant message templates. */
export class SqlTemplateStore implements TemplateStore {
  private readonly upsertTemplate: string;

  constructor(
    private readonly sql: SqlRunner,
    dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.upsertTemplate = `INSERT INTO message_templates
(tenant_id, id, name, class, default_locale, variants, variables, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ${dialect.upsert(
      ['tenant_id', 'id'],
      `name = ${v('name')}, class = ${v('class')}, default_locale = ${v('default_locale')},
variants = ${v('variants')}, variables = ${v('variables')}, updated_at = ${v('updated_at')}`,
    )}`;
  }

  async listTemplates(tenantId: string): Promise<TemplateRecord[]> {
    return (await this.sql.query<TemplateRow>(SELECT_TEMPLATES, [tenantId])).map(toTemplateRecord);
  }

  async getTemplate(tenantId: string, id: string): Promise<TemplateRecord | undefined> {
    const [row] = await this.sql.query<TemplateRow>(SELECT_TEMPLATE, [tenantId, id]);
    return row ? toTemplateRecord(row) : undefined;
  }

  async putTemplate(record: TemplateRecord): Promise<void> {
    await this.sql.execute(this.upsertTemplate, [
      record.tenantId,
      record.id,
      record.name,
      record.messageClass,
      record.defaultLocale,
      JSON.stringify(record.variants.map(({ locale, body }) => ({ locale, body }))),
      [...record.variables].sort().join(','),
      record.createdAt,
      record.updatedAt,
    ]);
  }

  async deleteTemplate(tenantId: string, id: string): Promise<boolean> {
    return (await this.sql.execute(DELETE_TEMPLATE, [tenantId, id])) > 0;
  }
}

function toTemplateRecord(row: TemplateRow): TemplateRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    name: row.name,
    messageClass: row.class as MessageClass,
    defaultLocale: row.default_locale,
    variants: JSON.parse(row.variants) as TemplateVariant[],
    variables: row.variables === '' ? [] : row.variables.split(','),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
