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
 * Deficit round-robin over queues, in rounds that span calls: each queue in turn earns `quantum`
 * credit and takes what its credit, its demand and the remaining capacity allow; its turn ends when
 * its credit or its demand runs out. A call whose capacity runs out mid-turn leaves the turn open,
 * and the next call resumes it with the credit left, before the queues after it. So the queues get
 * the same rows, to within one quantum, however the capacity of each call varies: by rows, not by
 * turns (taking turns per call would give a queue the whole of a large call and the next one a
 * small one). A queue that runs dry loses its credit (it cannot bank it while idle).
 */
class DeficitRoundRobin {
  private readonly deficits = new Map<string, number>();
  /** The queue whose turn a call ended in, with credit left; undefined between turns. */
  private open: string | undefined;
  /** The queue served last: the next turn goes to the one after it. */
  private lastServed: string | undefined;

  constructor(private readonly quantum: number) {}

  allocate(queues: readonly Queue[], capacity: number): Map<string, number> {
    const given = new Map<string, number>();
    const active = queues.filter((q) => q.demand > 0).sort((a, b) => (a.key < b.key ? -1 : 1));
    for (const key of this.deficits.keys()) {
      if (!active.some((q) => q.key === key)) this.deficits.delete(key);
    }
    if (this.open !== undefined && !this.deficits.has(this.open)) this.open = undefined;
    if (active.length === 0 || capacity <= 0) return given;
    const left = new Map(active.map((q) => [q.key, q.demand]));
    let at =
      this.open === undefined
        ? nextAfter(active, this.lastServed)
        : active.findIndex((q) => q.key === this.open);
    let room = capacity;
    while (room > 0 && left.size > 0) {
      const { key } = active[at]!;
      const demand = left.get(key);
      if (demand !== undefined) {
        const credit = (this.deficits.get(key) ?? 0) + (this.open === key ? 0 : this.quantum);
        const take = Math.min(credit, demand, room);
        given.set(key, (given.get(key) ?? 0) + take);
        room -= take;
        this.lastServed = key;
        if (take === demand) {
          left.delete(key);
          this.deficits.set(key, 0);
        } else {
          left.set(key, demand - take);
          this.deficits.set(key, credit - take);
        }
        // Cut short by the capacity with credit and demand left: the next call resumes this turn.
        this.open = room <= 0 && take < demand && credit > take ? key : undefined;
      }
      at = (at + 1) % active.length;
    }
    return given;
  }
}

/** The index of the first queue after `key` in key order, wrapping; 0 when there is none. */
function nextAfter(active: readonly Queue[], key: string | undefined): number {
  if (key === undefined) return 0;
  const i = active.findIndex((q) => q.key > key);
  return i === -1 ? 0 : i;
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
