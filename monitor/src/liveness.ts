/**
 * Who is alive, from heartbeats (core/heartbeat.ts): the age of each instance's last heartbeat,
 * the live instances per service, and the bridges' breaker states. Pure; clock injected.
 *
 * An instance that said it was stopping is forgotten at once; one that went quiet is reported
 * (heartbeat_age_seconds grows) until `forgetAfterMs`, by when a replaced pod is replaced for good.
 * A service stays known for `serviceMemoryMs` after its last instance, so "no instance of the
 * persister" is a series with value 0 rather than no series at all.
 */
import type { Heartbeat } from '../../core/heartbeat.ts';

export interface LivenessOptions {
  /** An instance is live while its last heartbeat is at most this old. Default 35 s. */
  liveForMs?: number;
  forgetAfterMs?: number;
  serviceMemoryMs?: number;
  now?: () => number;
}

interface Instance {
  service: string;
  instance: string;
  at: number;
  breakers: Record<string, number>;
}

export class Liveness {
  private readonly instances = new Map<string, Instance>();
  private readonly services = new Map<string, number>();
  private readonly liveForMs: number;
  private readonly forgetAfterMs: number;
  private readonly serviceMemoryMs: number;
  private readonly now: () => number;

  constructor(options: LivenessOptions = {}) {
    this.liveForMs = options.liveForMs ?? 35_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 15 * 60_000;
    this.serviceMemoryMs = options.serviceMemoryMs ?? 24 * 60 * 60_000;
    this.now = options.now ?? Date.now;
  }

  heartbeat(beat: Heartbeat): void {
    const at = Date.parse(beat.at);
    const key = `${beat.service}/${beat.instance}`;
    const held = this.instances.get(key);
    if (held && held.at > at) return; // replayed or reordered: the later one stands
    this.services.set(beat.service, Math.max(this.services.get(beat.service) ?? 0, at));
    if (beat.stopping) {
      this.instances.delete(key);
      return;
    }
    if (at < this.now() - this.forgetAfterMs) return;
    this.instances.set(key, {
      service: beat.service,
      instance: beat.instance,
      at,
      breakers: beat.breakers ?? {},
    });
  }

  /** Seconds since each known instance's last heartbeat. */
  ages(): Array<{ service: string; instance: string; ageSeconds: number }> {
    this.forget();
    const now = this.now();
    return [...this.instances.values()].map((i) => ({
      service: i.service,
      instance: i.instance,
      ageSeconds: Math.max(0, now - i.at) / 1000,
    }));
  }

  /** Live instances of every service known. */
  serviceCounts(): Array<{ service: string; instances: number }> {
    this.forget();
    const now = this.now();
    const counts = new Map<string, number>([...this.services.keys()].map((s) => [s, 0]));
    for (const i of this.instances.values()) {
      if (now - i.at <= this.liveForMs) counts.set(i.service, (counts.get(i.service) ?? 0) + 1);
    }
    return [...counts].map(([service, instances]) => ({ service, instances }));
  }

  /** The worst state of each breaker over the live bridges, split into provider and country. */
  breakers(): Array<{ provider: string; country: string; state: number }> {
    const now = this.now();
    const worst = new Map<string, number>();
    for (const i of this.instances.values()) {
      if (now - i.at > this.liveForMs) continue;
      for (const [key, state] of Object.entries(i.breakers))
        worst.set(key, Math.max(worst.get(key) ?? 0, state));
    }
    return [...worst].map(([key, state]) => {
      const cut = key.lastIndexOf(':');
      return cut < 0
        ? { provider: key, country: '*', state }
        : { provider: key.slice(0, cut), country: key.slice(cut + 1), state };
    });
  }

  private forget(): void {
    const now = this.now();
    for (const [key, i] of this.instances) if (now - i.at > this.forgetAfterMs) this.instances.delete(key);
    for (const [service, at] of this.services)
      if (now - at > this.serviceMemoryMs) this.services.delete(service);
  }
}
