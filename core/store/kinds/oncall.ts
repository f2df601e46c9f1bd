import type { PageRecord, PageStatus, RosterRecord } from '../../oncall.ts';

/** On-call rosters and pages (core/oncall.ts). */
export interface OnCallStore {
  /** A tenant's rosters, by name. */
  listRosters(tenantId: string): Promise<RosterRecord[]>;
  getRoster(tenantId: string, name: string): Promise<RosterRecord | undefined>;
  /** Inserts or replaces the roster. */
  putRoster(record: RosterRecord): Promise<void>;
  /** False when there was no such roster. */
  deleteRoster(tenantId: string, name: string): Promise<boolean>;
  insertPage(page: PageRecord): Promise<void>;
  getPage(tenantId: string, id: string): Promise<PageRecord | undefined>;
  /** An alert's pages (tenant and fingerprint) in one of `statuses`, oldest first. */
  findPages(tenantId: string, fingerprint: string, statuses: readonly PageStatus[]): Promise<PageRecord[]>;
  /**
   * Writes the page's status, level, deliveries, escalation, acknowledgement and resolution only
   * while the stored page still has the `expected` status and level: false when another process
   * moved it first (or there is no such page).
   */
  updatePage(page: PageRecord, expected: { status: PageStatus; level: number }): Promise<boolean>;
  /** Open pages whose next escalation is due at `now`, soonest first, any tenant. */
  duePages(now: number, limit: number): Promise<PageRecord[]>;
}
