import { hashTag } from './cache/slots.ts';

/**
 * Cache keys shared between services. The API writes some that the bridge reads and the other
 * way round, so they live in one place. Every marker of one message carries the message id as its
 * hash tag (core/cache/slots.ts): on a Redis Cluster they share a slot, so one script or MULTI may
 * read and write any of them together. The provider-message index is looked up by the provider's
 * id alone, and the idempotency key by the tenant's key: neither is ever used with another key.
 */
export const Markers = {
  /**
   * Set (NX) by the bridge before a pass over a message (its first send, a retry round, a receipt
   * check) and updated with the provider before each call: a second claim means a crashed bridge
   * already tried, and says through whom.
   */
  attempt: (messageId: string, pass: string) => `bridge:attempt:${hashTag(messageId)}:${pass}`,
  /** What a pass decided, stored before it is published, so a replay after a crash republishes it. */
  result: (messageId: string, pass: string) => `bridge:result:${hashTag(messageId)}:${pass}`,
  /** Set (NX) when a crashed pass is recovered, so the recovery itself happens once. */
  recovery: (messageId: string, pass: string) => `bridge:recovery:${hashTag(messageId)}:${pass}`,
  /** Set by the receipt webhook once every part of a message is delivered. */
  delivered: (messageId: string) => `receipt:delivered:${hashTag(messageId)}`,
  /** The latest receipt status of one part of a multi-part message. */
  partReceipt: (messageId: string, partId: string) => `receipt:part:${hashTag(messageId)}:${partId}`,
  /** Set by the API when it answered 503: such a message must never be sent. */
  abort: (messageId: string) => `api:abort:${hashTag(messageId)}`,
  /**
   * (provider, providerMessageId) → the message, written once the provider accepted it: receipts
   * are matched by it, and only a receipt from that provider finds it.
   */
  providerMessage: (provider: string, providerMessageId: string) => `pmid:${provider}:${providerMessageId}`,
  /**
   * (provider, our message id) → the message, written just before that provider is called: a
   * receipt that echoes our id as its reference is believed only from a provider given the message
   * (covering a receipt that beats the acceptance, or a send whose answer never came).
   */
  providerReference: (provider: string, messageId: string) => `pref:${provider}:${hashTag(messageId)}`,
  /** An Idempotency-Key already used by a tenant. */
  idempotency: (tenantId: string, key: string) => `api:idem:${tenantId}:${key}`,
} as const;

/** How long crash-safety and receipt-matching markers live: longer than any receipt takes to arrive. */
export const MARKER_TTL_MS = 7 * 24 * 3_600_000;
