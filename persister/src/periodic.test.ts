import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../core/logger.ts';
import { startPeriodic } from './periodic.ts';

const logger = createLogger({ level: 'silent' });

test('runOnce while a run is in progress joins it instead of starting another', async () => {
  let runs = 0;
  let finish!: (value: number) => void;
  const job = startPeriodic(
    () => {
      runs++;
      return new Promise<number>((resolve) => (finish = resolve));
    },
    { intervalMs: 3_600_000, logger, failedEvent: 'test.failed' },
  );
  const first = job.runOnce();
  const second = job.runOnce();
  finish(7);
  assert.deepEqual(await Promise.all([first, second]), [7, 7]);
  assert.equal(runs, 1);
  await job.close();
});

test('runs on its interval, a failed run does not stop the next, and none starts after close', async () => {
  let runs = 0;
  const job = startPeriodic(
    async () => {
      runs++;
      if (runs === 1) throw new Error('database away');
      await new Promise((resolve) => setTimeout(resolve, 5));
      return runs;
    },
    { intervalMs: 10, logger, failedEvent: 'test.failed' },
  );
  while (runs < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  const closing = job.close();
  await closing;
  const after = runs;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(runs, after, 'no run after close');
  assert.ok(runs >= 3, 'the failed first run was followed by more');
});
