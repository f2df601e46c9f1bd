/** Polls `predicate` every 20 ms until it holds; throws with `message` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  message = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= deadline) throw new Error(`waitFor: ${message} not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until `count` stops growing for `quietMs`: a consumer started on shared topics has caught
 * up with what earlier tests left there.
 */
export async function waitForQuiet(count: () => number, quietMs = 1_500, timeoutMs = 120_000): Promise<void> {
  let last = -1;
  await waitFor(
    async () => {
      const now = count();
      if (now === last) return true;
      last = now;
      await sleep(quietMs);
      return false;
    },
    timeoutMs,
    'quiet',
  );
}
