/**
 * Cache keys shared between services. The API writes some that the bridge reads and the other
 * way round, so they live in one place.
 */
export const Markers = {
  /** Set (NX) by the bridge before the first provider call: a second claim means a crashed bridge already tried. */
  attempt: (messageId: string) => `bridge:attempt:${messageId}`,
  /** The bridge's outcome, stored before it is published, so a replay after a crash republishes it. */
  result: (messageId: string) => `bridge:result:${messageId}`,
  /** Set by the API when it answered 503: such a message must never be sent. */
  abort: (messageId: string) => `api:abort:${messageId}`,
  /** providerMessageId → message, so receipts without a client reference find their message. */
  providerMessage: (provider: string, providerMessageId: string) => `pmid:${provider}:${providerMessageId}`,
  /** An Idempotency-Key already used by a tenant. */
  idempotency: (tenantId: string, key: string) => `api:idem:${tenantId}:${key}`,
} as const;

/** How long crash-safety and receipt-matching markers live: longer than any receipt takes to arrive. */
export const MARKER_TTL_MS = 7 * 24 * 3_600_000;
