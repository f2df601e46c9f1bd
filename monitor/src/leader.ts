/**
 * One monitor acts at a time. Every replica reads every event (each has a consumer group of its
 * own) so a standby has warm windows, but only the holder of a lease in the cache evaluates
 * rules, publishes `provider.health`, sends canaries and notifies: two replicas would otherwise
 * page twice and publish competing verdicts. The lease is renewed well inside its TTL; a replica
 * that dies lets it lapse and another takes over within the TTL, carrying on from the stored
 * incidents.
 */
import type { Cache, CacheScript, ScriptRedis } from '../../core/cache/cache.ts';

export const LEADER_KEY = 'monitor:leader';

/**
 * Takes the lease when free or already ours and extends it (ARGV holder, ttlMs, 'hold'), or gives
 * it up when ours (ARGV holder, 0, 'release'). Reply 1 when the caller holds it afterwards.
 */
export const leaseScript: CacheScript<number> = {
  name: 'monitor_lease',
  lua: `
local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`,
  memory(r: ScriptRedis, [key], [holder, ttlMs, op]): number {
    const current = r.get(key!);
    if (op === 'release') {
      if (current === holder) r.del(key!);
      return 0;
    }
    if (current === null || current === holder) {
      r.set(key!, holder!, { px: Number(ttlMs) });
      return 1;
    }
    return 0;
  },
};

export class Leadership {
  private held = false;

  constructor(
    private readonly cache: Cache,
    private readonly holder: string,
    private readonly ttlMs = 15_000,
    private readonly key = LEADER_KEY,
  ) {}

  /**
   * Takes or extends the lease; false when another replica holds it. While the cache cannot be
   * reached every replica keeps the role it had: nobody can take the lease over then, and an
   * outage is exactly when the acting monitor must go on alerting.
   */
  async renew(): Promise<boolean> {
    try {
      this.held =
        (await this.cache.runScript(leaseScript, [this.key], [this.holder, this.ttlMs, 'hold'])) === 1;
    } catch {
      // `held` stays as it was.
    }
    return this.held;
  }

  get leader(): boolean {
    return this.held;
  }

  async release(): Promise<void> {
    this.held = false;
    await this.cache.runScript(leaseScript, [this.key], [this.holder, 0, 'release']).catch(() => undefined);
  }
}
