-- The monitor's baselines (alerting/baseline.ts), kept so a restarted monitor or a new leader
-- continues judging without a new warm-up. One row per series (metric, labels and window in
-- `series_key`), rewritten by the acting monitor at most every 30 s: the table stays as small as
-- the number of provider × country × rule series. The corrected average is sum ÷ weight.
CREATE TABLE IF NOT EXISTS monitor_baselines (
  series_key VARCHAR(255) NOT NULL PRIMARY KEY,
  sum DOUBLE NOT NULL,
  weight DOUBLE NOT NULL,
  observed_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
