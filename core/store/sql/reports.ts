import type { MessageRecord } from '../kinds/messages.ts';
import type { MessageFilter, MessagePage, ReportStore, UsageGroupBy, UsageRow } from '../kinds/reports.ts';
import { listingWhere, toUsageRow, usageQuery, type UsageSqlRow } from '../report-rows.ts';
import { type MessageRow, toMessageRecord } from '../rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** Listings and usage reports over the `messages` table. */
export class SqlReportStore implements ReportStore {
  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
  ) {}

  async listMessages(tenantId: string, filter: MessageFilter, page: MessagePage): Promise<MessageRecord[]> {
    const where = listingWhere(tenantId, filter, page.before);
    const rows = await this.sql.query<MessageRow>(
      `SELECT * FROM messages WHERE ${where.sql} ORDER BY id DESC LIMIT ?`,
      [...where.params, page.limit],
    );
    return rows.map(toMessageRecord);
  }

  async usage(
    tenantId: string,
    range: { since: number; until: number },
    groupBy: UsageGroupBy,
  ): Promise<UsageRow[]> {
    const query = usageQuery(tenantId, range, groupBy, this.dialect.dayOf);
    const rows = await this.sql.query<UsageSqlRow>(query.sql, query.params);
    return rows.map((row) => toUsageRow(row, groupBy));
  }
}
