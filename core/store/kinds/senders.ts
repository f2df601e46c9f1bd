import type { SenderKind } from '../../sender-id.ts';

/** One sender a tenant has registered: an alphanumeric id, or a number of its pool. */
export interface SenderRecord {
  tenantId: string;
  /** As the handset shows it: an alphanumeric id, an E.164 number or a short code. */
  sender: string;
  kind: SenderKind;
  /** ISO 3166-1 alpha-2 countries it may send to, sorted; empty: any country. */
  countries: string[];
  /** Whether it is the tenant's default for its countries (for every country when it names none). */
  isDefault: boolean;
  createdAt: number;
  updatedAt: number;
}

/** The per-tenant sender registry (api/src/senders.ts, /v1/admin/senders). */
export interface SenderStore {
  /** The tenant's senders, ordered by sender. */
  listSenders(tenantId: string): Promise<SenderRecord[]>;
  /** Inserts or replaces one sender of a tenant; a replacement keeps its `createdAt`. */
  putSender(record: SenderRecord): Promise<void>;
  /** Removes one sender; false when the tenant had no such sender. */
  deleteSender(tenantId: string, sender: string): Promise<boolean>;
}
