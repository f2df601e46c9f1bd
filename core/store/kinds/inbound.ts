import type { KeywordAction } from '../../opt-out.ts';

/** An SMS a person sent to one of a tenant's senders, reassembled when it came in parts. */
export interface InboundRecord {
  /** ULID the gateway assigned on receipt. */
  id: string;
  tenantId: string;
  provider: string;
  /** The provider's id (of the first part, for a reassembled message). */
  providerMessageId: string;
  /** Who sent it, E.164. */
  from: string;
  /** The tenant's sender it was sent to. */
  to: string;
  body: string;
  parts: number;
  /** The opt-out keyword it was, if any. */
  keyword: KeywordAction | null;
  /** The outbound message it answers, when the provider or the sender pool tells. */
  inReplyTo: string | null;
  receivedAt: number;
}

/** Inbound SMS (`inbound_messages`) and the look-ups that place them. */
export interface InboundStore {
  /** Stores one inbound SMS; false when the provider's id was stored already (a webhook retry). */
  insertInbound(record: InboundRecord): Promise<boolean>;
  /** The tenant's inbound SMS newest first, before the id `before` when given. */
  listInbound(tenantId: string, options: { limit: number; before?: string }): Promise<InboundRecord[]>;
  /**
   * The tenant that registered `sender` (/v1/admin/senders); undefined when none did. When
   * several did (a shared short code), the one registered first.
   */
  tenantOfSender(sender: string): Promise<string | undefined>;
  /**
   * The newest message the tenant sent to `recipient` from `sender`: with a sticky sender pool a
   * number always hears from the same sender, so a reply to that sender answers that message.
   */
  lastMessageTo(tenantId: string, recipient: string, sender: string): Promise<string | undefined>;
}
