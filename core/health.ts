/**
 * Readiness is the conjunction of named checks (bus, store, cache, consumer state…); liveness
 * never depends on a dependency, so an outage of Kafka or MySQL makes pods unready, not restarted.
 */
export type ReadinessCheck = () => Promise<boolean> | boolean;

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private shuttingDown = false;

  add(name: string, check: ReadinessCheck): this {
    this.checks.set(name, check);
    return this;
  }

  /** After this, readiness fails at once so load balancers stop sending before the server closes. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  async evaluate(timeoutMs = 2000): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const results: Record<string, boolean> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        results[name] = await withTimeout(Promise.resolve().then(check), timeoutMs).catch(() => false);
      }),
    );
    if (this.shuttingDown) results.shutdown = false;
    return { ready: Object.values(results).every(Boolean), checks: results };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
