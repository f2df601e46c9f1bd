/** One series' baseline as the monitor keeps it between processes (alerting/baseline.ts `BaselineState`). */
export interface BaselineRecord {
  /** Metric, labels and window (alerting/baseline.ts `baselineKey`). */
  key: string;
  sum: number;
  weight: number;
  /** When the series was last observed. */
  observedAt: number;
  updatedAt: number;
}

/** Messages submitted through a provider to a country, and how many of them were delivered. */
export interface DeliveryTotals {
  provider: string;
  country: string;
  submitted: number;
  delivered: number;
}

/** The monitor's memory: baselines that outlive a process, and the priors it starts from. */
export interface BaselineStore {
  /** Every stored baseline. */
  listBaselines(): Promise<BaselineRecord[]>;
  /**
   * Inserts or replaces baselines, one row per key; a row observed later than the one written is
   * kept (a monitor that lost its lease must not undo its successor's).
   */
  putBaselines(records: readonly BaselineRecord[]): Promise<void>;
  /** Deletes baselines last observed before `observedBefore` (series the monitor forgot); returns how many. */
  deleteBaselines(observedBefore: number): Promise<number>;
  /**
   * Per provider × country, messages accepted in [since, until) and handed to a provider, and how
   * many of them are now delivered: yesterday's delivered rate, a prior for a monitor without
   * baselines.
   */
  deliveryTotals(range: { since: number; until: number }): Promise<DeliveryTotals[]>;
}
