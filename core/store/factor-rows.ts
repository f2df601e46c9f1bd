import type { TotpFactorRecord } from './kinds/factors.ts';

// The `totp_factors` table as both SQL stores see it (kept apart from rows.ts, which holds the
// message tables).

export const TOTP_FACTOR_COLUMNS: readonly string[] = [
  'id',
  'tenant_id',
  'recipient',
  'secret',
  'status',
  'created_at',
  'verified_at',
];

export interface TotpFactorRow {
  id: string;
  tenant_id: string;
  recipient: string;
  secret: string;
  status: string;
  created_at: number | string | bigint;
  verified_at: number | string | bigint | null;
}

export function totpFactorValues(f: TotpFactorRecord): unknown[] {
  return [f.id, f.tenantId, f.recipient, f.secret, f.status, f.createdAt, f.verifiedAt];
}

export function toTotpFactorRecord(row: TotpFactorRow): TotpFactorRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    recipient: row.recipient,
    secret: row.secret,
    status: row.status === 'verified' ? 'verified' : 'unverified',
    createdAt: Number(row.created_at),
    verifiedAt: row.verified_at === null ? null : Number(row.verified_at),
  };
}
