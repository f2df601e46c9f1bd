import type { Logger } from '../../core/logger.ts';

export interface PeriodicJob<T> {
  /** One whole run now; joins the run in progress, if any. */
  runOnce(): Promise<T>;
  /** No run starts after this; resolves once the one in progress has ended. */
  close(): Promise<void>;
}

export interface PeriodicOptions {
  intervalMs: number;
  logger: Logger;
  /** The log event of a run that threw; the next run comes on time all the same. */
  failedEvent: string;
}

/**
 * Runs `work` every `intervalMs`, one run at a time, the first after a random part of the
 * interval: instances started together (a deploy) would otherwise all hit the database at the
 * same moment. `work` is told whether the job was closed, to stop between its batches.
 */
export function startPeriodic<T>(
  work: (isClosed: () => boolean) => Promise<T>,
  options: PeriodicOptions,
): PeriodicJob<T> {
  let closed = false;
  let running: Promise<T> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const isClosed = () => closed;

  const runOnce = (): Promise<T> => {
    running ??= work(isClosed).finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (delayMs: number) => {
    if (closed) return;
    timer = setTimeout(() => {
      runOnce()
        .catch((err: unknown) => {
          options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, options.failedEvent);
        })
        .finally(() => schedule(options.intervalMs));
    }, delayMs);
    timer.unref();
  };
  schedule(Math.random() * options.intervalMs);

  return {
    runOnce,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
