import type { MessageClass, MessageStatus } from '../../message.ts';
import type { MessageRecord } from './messages.ts';

// Listings and usage (GET /v1/messages, GET /v1/usage): reads over many messages of one tenant.

/**
 * What a listing of one tenant's messages keeps; every field given narrows it. `since`/`until`
 * bound the creation time, which is the time part of the message id (a ULID made at acceptance),
 * so a time range is a range of the primary key.
 */
export interface MessageFilter {
  recipient?: string;
  /** The client's reference, exactly. */
  clientRef?: string;
  status?: MessageStatus;
  messageClass?: MessageClass;
  provider?: string;
  /** Created at or after, ms since the epoch. */
  since?: number;
  /** Created before, ms since the epoch. */
  until?: number;
}

/** A page of a listing, newest first: at most `limit` messages whose id is below `before`. */
export interface MessagePage {
  before?: string;
  limit: number;
}

export const USAGE_GROUPS = ['day', 'provider', 'country'] as const;
export type UsageGroupBy = (typeof USAGE_GROUPS)[number];

/** A tenant's traffic in one group of a usage report. */
export interface UsageRow {
  /** `YYYY-MM-DD` (UTC) by day; the provider or country by those, null for messages without one. */
  key: string | null;
  messages: number;
  segments: number;
  /** The messages' billed cost, each message counted once. */
  cost: number;
}

export interface ReportStore {
  /** One tenant's messages, newest first (by id), narrowed by the filter; never another tenant's. */
  listMessages(tenantId: string, filter: MessageFilter, page: MessagePage): Promise<MessageRecord[]>;
  /** A tenant's messages created in [since, until), summed per group; groups in no particular order. */
  usage(
    tenantId: string,
    range: { since: number; until: number },
    groupBy: UsageGroupBy,
  ): Promise<UsageRow[]>;
}
