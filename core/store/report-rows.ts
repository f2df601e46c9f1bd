import type { UsageGroupBy, UsageRow } from './kinds/reports.ts';

// The usage report's rows as both SQL stores see them; its query and the listing's are in
// sql/reports.ts.

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
