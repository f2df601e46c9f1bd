import { idFloor } from '../ids.ts';
import type { MessageFilter, UsageGroupBy, UsageRow } from './kinds/reports.ts';

// The read side of the message table both SQL stores share: the listing's WHERE clause and the
// usage report's rows. The day arithmetic is the dialect's (sql/dialect.ts).

export interface UsageSqlRow {
  group_key: string | number | null;
  messages: number | string;
  segments: number | string | null;
  cost: number | string | null;
}

const DAY_MS = 86_400_000;

/** Cost sums are rounded to the 6 decimals the column keeps, so SQLite's float sums read like MySQL's. */
export function toUsageRow(row: UsageSqlRow, groupBy: UsageGroupBy): UsageRow {
  let key: string | null = row.group_key === null ? null : String(row.group_key);
  if (groupBy === 'day' && key !== null) key = new Date(Number(key) * DAY_MS).toISOString().slice(0, 10);
  return {
    key,
    messages: Number(row.messages),
    segments: Number(row.segments ?? 0),
    cost: Math.round(Number(row.cost ?? 0) * 1e6) / 1e6,
  };
}

/**
 * The expression a usage report groups on. `day` is whole UTC days since the epoch of the time the
 * message was queued (`dayOf` divides per dialect); a row a receipt created before its request
 * was stored has no queued time yet and falls back to its first known time.
 */
export function usageGroupExpression(groupBy: UsageGroupBy, dayOf: (column: string) => string): string {
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
export function usageQuery(
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
export function listingWhere(
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
