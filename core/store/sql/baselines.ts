import { idFloor } from '../../ids.ts';
import type { BaselineRecord, BaselineStore, DeliveryTotals } from '../kinds/baselines.ts';
import { insertInto } from '../rows.ts';
import { insertGroups, oneRowOnce, type SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

const COLUMNS = ['series_key', 'sum', 'weight', 'observed_at', 'updated_at'] as const;

interface BaselineRow {
  series_key: string;
  sum: number | string;
  weight: number | string;
  observed_at: number | bigint | string;
  updated_at: number | bigint | string;
}

interface TotalsRow {
  provider: string;
  country: string;
  submitted: number | bigint | string;
  delivered: number | bigint | string | null;
}

/**
 * Totals over messages accepted in the range and handed to a provider, whatever their later
 * status. The range is over ids (ULIDs carry their creation time), so it reads a day of the
 * primary key rather than scanning the table; done once when a monitor starts.
 */
const DELIVERY_TOTALS = `SELECT provider, country, COUNT(*) AS submitted,
  SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS delivered
FROM messages
WHERE id >= ? AND id < ? AND provider IS NOT NULL AND country IS NOT NULL
GROUP BY provider, country`;

/** `monitor_baselines`, and the delivery totals of `messages` the monitor's priors come from. */
export class SqlBaselineStore implements BaselineStore {
  private readonly upsert: (rows: number) => string;

  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    const newer = `${v('observed_at')} >= observed_at`;
    // observed_at last: MySQL's later assignments would otherwise see the new value.
    const assignments = [
      `sum = CASE WHEN ${newer} THEN ${v('sum')} ELSE sum END`,
      `weight = CASE WHEN ${newer} THEN ${v('weight')} ELSE weight END`,
      `updated_at = CASE WHEN ${newer} THEN ${v('updated_at')} ELSE updated_at END`,
      `observed_at = ${dialect.greatest}(observed_at, ${v('observed_at')})`,
    ].join(',\n');
    this.upsert = oneRowOnce(
      (rows) =>
        `${insertInto('monitor_baselines', COLUMNS, rows)}\n${dialect.upsert(['series_key'], assignments)}`,
    );
  }

  async listBaselines(): Promise<BaselineRecord[]> {
    const rows = await this.sql.query<BaselineRow>('SELECT * FROM monitor_baselines ORDER BY series_key', []);
    return rows.map((row) => ({
      key: row.series_key,
      sum: Number(row.sum),
      weight: Number(row.weight),
      observedAt: Number(row.observed_at),
      updatedAt: Number(row.updated_at),
    }));
  }

  async putBaselines(records: readonly BaselineRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.sql.transaction(
      insertGroups(this.dialect, records, 500).map((group) => ({
        sql: this.upsert(group.length),
        params: group.flatMap((r) => [r.key, r.sum, r.weight, r.observedAt, r.updatedAt]),
      })),
    );
  }

  deleteBaselines(observedBefore: number): Promise<number> {
    return this.sql.execute('DELETE FROM monitor_baselines WHERE observed_at < ?', [observedBefore]);
  }

  async deliveryTotals(range: { since: number; until: number }): Promise<DeliveryTotals[]> {
    const rows = await this.sql.query<TotalsRow>(DELIVERY_TOTALS, [
      idFloor(range.since),
      idFloor(range.until),
    ]);
    return rows.map((row) => ({
      provider: row.provider,
      country: row.country,
      submitted: Number(row.submitted),
      delivered: Number(row.delivered ?? 0),
    }));
  }
}
