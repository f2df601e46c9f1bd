/**
 * Reports, once per window, how late this process's event loop ran in it: the most a short timer
 * fired after it was due. A loop busy with callbacks, or a process the machine gives no CPU, shows
 * up the same way, and both are what an OTP's pass would wait behind.
 * (perf_hooks' monitorEventLoopDelay was tried: its per-window maximum missed a 50 ms block.)
 */
export function watchEventLoopLateness(
  windowMs: number,
  onWindow: (latenessMs: number) => void,
  sampleMs = Math.max(1, Math.floor(windowMs / 5)),
): { stop(): void } {
  let worst = 0;
  let windowStart = performance.now();
  let due = windowStart + sampleMs;
  let stopped = false;
  let timer: NodeJS.Timeout;
  const sample = () => {
    const at = performance.now();
    worst = Math.max(worst, at - due);
    if (at - windowStart >= windowMs) {
      onWindow(worst);
      worst = 0;
      windowStart = at;
    }
    if (stopped) return;
    due = at + sampleMs;
    timer = setTimeout(sample, sampleMs);
    timer.unref();
  };
  timer = setTimeout(sample, sampleMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
