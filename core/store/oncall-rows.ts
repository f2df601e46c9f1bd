import type { PageDelivery, PageRecord, PageStatus, Roster, RosterMember, RosterRecord } from '../oncall.ts';

// The `oncall_rosters` and `oncall_pages` tables as both SQL stores see them (kept apart from
// rows.ts, which holds the message tables). The statements are in sql/oncall.ts.

export const ROSTER_COLUMNS: readonly string[] = ['tenant_id', 'name', 'definition', 'updated_at'];

export interface RosterRow {
  tenant_id: string;
  name: string;
  definition: string;
  updated_at: number | string | bigint;
}

export function rosterValues(r: RosterRecord): unknown[] {
  return [r.tenantId, r.name, JSON.stringify(r.roster), r.updatedAt];
}

export function toRosterRecord(row: RosterRow): RosterRecord {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    roster: JSON.parse(row.definition) as Roster,
    updatedAt: Number(row.updated_at),
  };
}

export const PAGE_COLUMNS: readonly string[] = [
  'id',
  'tenant_id',
  'roster',
  'fingerprint',
  'status',
  'severity',
  'title',
  'level',
  'chain',
  'deliveries',
  'created_at',
  'escalate_at',
  'acknowledged_at',
  'acknowledged_by',
  'resolved_at',
  'updated_at',
];

export interface PageRow {
  id: string;
  tenant_id: string;
  roster: string;
  fingerprint: string;
  status: string;
  severity: string;
  title: string;
  level: number | string;
  chain: string;
  deliveries: string;
  created_at: number | string | bigint;
  escalate_at: number | string | bigint | null;
  acknowledged_at: number | string | bigint | null;
  acknowledged_by: string | null;
  resolved_at: number | string | bigint | null;
  updated_at: number | string | bigint;
}

export function pageValues(p: PageRecord): unknown[] {
  return [
    p.id,
    p.tenantId,
    p.roster,
    p.fingerprint,
    p.status,
    p.severity,
    p.title,
    p.level,
    JSON.stringify(p.chain),
    JSON.stringify(p.deliveries),
    p.createdAt,
    p.escalateAt,
    p.acknowledgedAt,
    p.acknowledgedBy,
    p.resolvedAt,
    p.updatedAt,
  ];
}

const optionalNumber = (v: number | string | bigint | null) => (v === null ? null : Number(v));

export function toPageRecord(row: PageRow): PageRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    roster: row.roster,
    fingerprint: row.fingerprint,
    status: row.status as PageStatus,
    severity: row.severity,
    title: row.title,
    level: Number(row.level),
    chain: JSON.parse(row.chain) as RosterMember[],
    deliveries: JSON.parse(row.deliveries) as PageDelivery[],
    createdAt: Number(row.created_at),
    escalateAt: optionalNumber(row.escalate_at),
    acknowledgedAt: optionalNumber(row.acknowledged_at),
    acknowledgedBy: row.acknowledged_by,
    resolvedAt: optionalNumber(row.resolved_at),
    updatedAt: Number(row.updated_at),
  };
}

export function updatePageValues(p: PageRecord, expected: { status: PageStatus; level: number }): unknown[] {
  return [
    p.status,
    p.level,
    JSON.stringify(p.deliveries),
    p.escalateAt,
    p.acknowledgedAt,
    p.acknowledgedBy,
    p.resolvedAt,
    p.updatedAt,
    p.id,
    p.tenantId,
    expected.status,
    expected.level,
  ];
}
