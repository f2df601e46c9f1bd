import { idFloor } from '../../ids.ts';
import type { MessageRecord } from '../kinds/messages.ts';
import type { MessageFilter, MessagePage, ReportStore, UsageGroupBy, UsageRow } from '../kinds/reports.ts';
import { toUsageRow, type UsageSqlRow } from '../report-rows.ts';
import { type MessageRow, toMessageRecord } from '../rows.ts';
import type { SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/**
 * The expression a usage report groups on. `day` is whole UTC days since the epoch of the time the
 * message was queued (`dayOf` divides per dialect); a row a receipt created before its request
 * was stored has no queued time yet and falls back to its first known time.
 */
function usageGroupExpression(groupBy: UsageGroupBy, dayOf: (column: string) => string): string {
  switch (groupBy) {
    case 'day':
      return dayOf('COALESCE(queued_at, submitted_at, final_at, updated_at)');
    case 'provider':
      return 'provider';
    case 'country':
      return 'country';
  }
}

/**
 * A usage report: the tenant's messages created in the range (an id range, on the tenant's
 * index), summed per group. Segments default to 1 as readers show them; cost is each message's
 * billed cost, counted once.
 */
function usageQuery(
  tenantId: string,
  range: { since: number; until: number },
  groupBy: UsageGroupBy,
  dayOf: (column: string) => string,
): { sql: string; params: unknown[] } {
  const key = usageGroupExpression(groupBy, dayOf);
  return {
    sql: `SELECT ${key} AS group_key, COUNT(*) AS messages, SUM(COALESCE(segments, 1)) AS segments,
  SUM(cost) AS cost
FROM messages WHERE tenant_id = ? AND id >= ? AND id < ?
GROUP BY ${key}`,
    params: [tenantId, idFloor(range.since), idFloor(range.until)],
  };
}

/**
 * The WHERE clause and parameters of a listing: the tenant, the filters given, the creation
 * range as an id range, and the page's upper bound.
 */
function listingWhere(
  tenantId: string,
  filter: MessageFilter,
  before: string | undefined,
): { sql: string; params: unknown[] } {
  const clauses = ['tenant_id = ?'];
  const params: unknown[] = [tenantId];
  if (filter.recipient !== undefined) {
    clauses.push('recipient = ?');
    params.push(filter.recipient);
  }
  if (filter.clientRef !== undefined) {
    clauses.push('client_ref = ?');
    params.push(filter.clientRef);
  }
  if (filter.status !== undefined) {
    clauses.push('status = ?');
    params.push(filter.status);
  }
  if (filter.messageClass !== undefined) {
    // Readers show a row whose request is not stored yet as transactional; the filter agrees.
    clauses.push("COALESCE(message_class, 'transactional') = ?");
    params.push(filter.messageClass);
  }
  if (filter.provider !== undefined) {
    clauses.push('provider = ?');
    params.push(filter.provider);
  }
  if (filter.since !== undefined) {
    clauses.push('id >= ?');
    params.push(idFloor(filter.since));
  }
  if (filter.until !== undefined) {
    clauses.push('id < ?');
    params.push(idFloor(filter.until));
  }
  if (before !== undefined) {
    clauses.push('id < ?');
    params.push(before);
  }
  return { sql: clauses.join(' AND '), params };
}

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
