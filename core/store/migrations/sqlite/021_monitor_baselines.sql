-- The monitor's baselines (alerting/baseline.ts), kept so a restarted monitor continues judging
-- without a new warm-up. One row per series (metric, labels and window in `series_key`),
-- rewritten by the acting monitor at most every 30 s. The corrected average is sum ÷ weight.
CREATE TABLE IF NOT EXISTS monitor_baselines (
  series_key TEXT NOT NULL PRIMARY KEY,
  sum REAL NOT NULL,
  weight REAL NOT NULL,
  observed_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
