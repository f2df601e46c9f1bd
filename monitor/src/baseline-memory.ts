/**
 * The monitor's baselines outlive its process: loaded from the store when a monitor starts (and
 * again when it becomes the acting replica), written back by the acting replica at most every
 * `snapshotMs` (default 30 s), one row per series. A restart, a deploy or a change of leader then
 * continues judging where the last monitor was instead of warming up for ten minutes.
 *
 * Why the store and not Redis: the store is durable in both modes (SQLite embedded, MySQL/TiDB in
 * production), while embedded mode's cache is a map that dies with the process and Redis may
 * evict; and the store already holds the monitor's incidents, rules and silences.
 */
import type { Baselines } from '../../alerting/baseline.ts';
import type { Logger } from '../../core/logger.ts';
import type { BaselineStore } from '../../core/store/kinds/baselines.ts';

export type BaselineMemoryStore = Pick<BaselineStore, 'listBaselines' | 'putBaselines' | 'deleteBaselines'>;

export interface BaselineMemoryOptions {
  baselines: Baselines;
  store: BaselineMemoryStore;
  logger: Logger;
  /** Least time between two snapshots. */
  snapshotMs: number;
  now: () => number;
}

/** Rows of series forgotten in memory are deleted this often, keeping the table one row per live series. */
const CLEANUP_MS = 60 * 60_000;

export class BaselineMemory {
  private lastSnapshot = Number.NEGATIVE_INFINITY;
  private lastCleanup: number;

  constructor(private readonly options: BaselineMemoryOptions) {
    this.lastCleanup = options.now();
  }

  /** Takes the stored baselines this process knows less of; returns how many. Never throws. */
  async load(): Promise<number> {
    const { baselines, store, logger, now } = this.options;
    try {
      const records = await store.listBaselines();
      const taken = baselines.restore(
        records.map((r) => ({ key: r.key, sum: r.sum, weight: r.weight, at: r.observedAt })),
        now(),
      );
      logger.info({ stored: records.length, taken }, 'monitor.baselines_loaded');
      return taken;
    } catch (err) {
      // Without them the monitor still judges: floors and priors, then its own warm-up.
      logger.warn({ err: (err as Error).message }, 'monitor.baselines_load_failed');
      return 0;
    }
  }

  /** Writes every baseline if the last snapshot is `snapshotMs` old (`force`: now). Never throws. */
  async snapshot(force = false): Promise<void> {
    const { baselines, store, logger, snapshotMs } = this.options;
    const at = this.options.now();
    if (!force && at - this.lastSnapshot < snapshotMs) return;
    this.lastSnapshot = at;
    try {
      const states = baselines.snapshot();
      await store.putBaselines(
        states.map((s) => ({ key: s.key, sum: s.sum, weight: s.weight, observedAt: s.at, updatedAt: at })),
      );
      if (at - this.lastCleanup >= CLEANUP_MS) {
        this.lastCleanup = at;
        await store.deleteBaselines(at - baselines.forgetAfterMs);
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'monitor.baselines_write_failed');
    }
  }
}
