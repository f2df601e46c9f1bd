/** What one campaign could release into the bulk lane now. */
export interface CampaignDemand {
  tenantId: string;
  campaignId: string;
  /** Rows it could release: its rows left, bounded by its rate cap's tokens. */
  ready: number;
}

interface Queue {
  key: string;
  demand: number;
}

/**
 * Deficit round-robin over queues: each round every queue with demand earns `quantum` credit and
 * takes what its credit, its demand and the remaining capacity allow. Credit left when capacity
 * runs out is kept for the next call, and the next call starts after the last queue served, so
 * over many calls every backlogged queue gets the same share whatever its size. A queue that runs
 * dry loses its credit (it cannot bank it while idle).
 */
class DeficitRoundRobin {
  private readonly deficits = new Map<string, number>();
  private lastServed: string | undefined;

  constructor(private readonly quantum: number) {}

  allocate(queues: readonly Queue[], capacity: number): Map<string, number> {
    const given = new Map<string, number>();
    const active = queues.filter((q) => q.demand > 0).sort((a, b) => (a.key < b.key ? -1 : 1));
    for (const key of this.deficits.keys()) {
      if (!active.some((q) => q.key === key)) this.deficits.delete(key);
    }
    if (active.length === 0 || capacity <= 0) return given;
    // Start after the queue served last, so ties do not always go to the same one.
    const start = this.lastServed === undefined ? 0 : active.findIndex((q) => q.key > this.lastServed!);
    const order = start <= 0 ? active : [...active.slice(start), ...active.slice(0, start)];
    const left = new Map(order.map((q) => [q.key, q.demand]));
    let room = capacity;
    while (room > 0 && [...left.values()].some((d) => d > 0)) {
      for (const { key } of order) {
        const demand = left.get(key)!;
        if (demand <= 0) continue;
        const credit = (this.deficits.get(key) ?? 0) + this.quantum;
        const take = Math.min(credit, demand, room);
        left.set(key, demand - take);
        given.set(key, (given.get(key) ?? 0) + take);
        room -= take;
        this.deficits.set(key, demand - take > 0 ? credit - take : 0);
        if (take > 0) this.lastServed = key;
        if (room <= 0) break;
      }
    }
    return given;
  }
}

/**
 * How many rows each running campaign releases this tick, out of the room left in the bulk lane's
 * in-flight window: deficit round-robin across tenants first, so a tenant's million-row campaign
 * and another's thousand-row one share the lane evenly, then across each tenant's campaigns.
 * Pure and in memory; the runner keeps one for its life as leaseholder.
 */
export class FairShare {
  private readonly tenants: DeficitRoundRobin;
  private readonly campaigns = new Map<string, DeficitRoundRobin>();

  constructor(private readonly quantum = 100) {
    this.tenants = new DeficitRoundRobin(quantum);
  }

  /** Rows per campaign id; campaigns given nothing are absent. */
  allocate(demands: readonly CampaignDemand[], capacity: number): Map<string, number> {
    const byTenant = new Map<string, CampaignDemand[]>();
    for (const demand of demands) {
      if (demand.ready <= 0) continue;
      const list = byTenant.get(demand.tenantId);
      if (list) list.push(demand);
      else byTenant.set(demand.tenantId, [demand]);
    }
    for (const tenant of this.campaigns.keys()) {
      if (!byTenant.has(tenant)) this.campaigns.delete(tenant);
    }
    const perTenant = this.tenants.allocate(
      [...byTenant].map(([key, list]) => ({ key, demand: list.reduce((sum, d) => sum + d.ready, 0) })),
      Math.floor(capacity),
    );
    const result = new Map<string, number>();
    for (const [tenant, share] of perTenant) {
      let inner = this.campaigns.get(tenant);
      if (!inner) {
        inner = new DeficitRoundRobin(this.quantum);
        this.campaigns.set(tenant, inner);
      }
      const list = byTenant.get(tenant)!;
      for (const [campaignId, rows] of inner.allocate(
        list.map((d) => ({ key: d.campaignId, demand: d.ready })),
        share,
      )) {
        if (rows > 0) result.set(campaignId, rows);
      }
    }
    return result;
  }
}
