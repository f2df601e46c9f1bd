/**
 * Readiness is the conjunction of named checks (bus, store, cache, consumer state…); liveness
 * never depends on a dependency, so an outage of Kafka or MySQL makes pods unready, not restarted.
 */
export type ReadinessCheck = () => Promise<boolean> | boolean;
/** What a service says about itself beside its checks (never decides readiness). */
export type ReadinessDetail = () => Record<string, unknown>;

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly details = new Map<string, ReadinessDetail>();
  private shuttingDown = false;

  add(name: string, check: ReadinessCheck): this {
    this.checks.set(name, check);
    return this;
  }

  /** Adds `name` to the answer's `detail`: e.g. how much the monitor cannot judge yet. */
  describe(name: string, detail: ReadinessDetail): this {
    this.details.set(name, detail);
    return this;
  }

  /** After this, readiness fails at once so load balancers stop sending before the server closes. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  async evaluate(
    timeoutMs = 2000,
  ): Promise<{ ready: boolean; checks: Record<string, boolean>; detail?: Record<string, unknown> }> {
    const results: Record<string, boolean> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        results[name] = await withTimeout(Promise.resolve().then(check), timeoutMs).catch(() => false);
      }),
    );
    if (this.shuttingDown) results.shutdown = false;
    const ready = Object.values(results).every(Boolean);
    if (this.details.size === 0) return { ready, checks: results };
    const detail: Record<string, unknown> = {};
    for (const [name, describe] of this.details) detail[name] = describe();
    return { ready, checks: results, detail };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
