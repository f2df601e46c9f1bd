import type { KeywordAction } from '../../opt-out.ts';
import type { InboundRecord, InboundStore } from '../kinds/inbound.ts';
import type { SqlRunner } from './runner.ts';

interface InboundRow {
  id: string;
  tenant_id: string;
  provider: string;
  provider_message_id: string;
  sender_phone: string;
  recipient: string;
  body: string;
  parts: number | string;
  keyword: string | null;
  in_reply_to: string | null;
  received_at: number | bigint | string;
}

const INSERT_INBOUND = `INSERT INTO inbound_messages (id, tenant_id, provider, provider_message_id, sender_phone,
recipient, body, parts, keyword, in_reply_to, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** `inbound_messages`, and the sender registry and message look-ups that place an inbound SMS. */
export class SqlInboundStore implements InboundStore {
  constructor(private readonly sql: SqlRunner) {}

  insertInbound(r: InboundRecord): Promise<boolean> {
    return this.sql.insert(INSERT_INBOUND, [
      r.id,
      r.tenantId,
      r.provider,
      r.providerMessageId,
      r.from,
      r.to,
      r.body,
      r.parts,
      r.keyword,
      r.inReplyTo,
      r.receivedAt,
    ]);
  }

  async listInbound(tenantId: string, options: { limit: number; before?: string }): Promise<InboundRecord[]> {
    const rows =
      options.before === undefined
        ? await this.sql.query<InboundRow>(
            'SELECT * FROM inbound_messages WHERE tenant_id = ? ORDER BY id DESC LIMIT ?',
            [tenantId, options.limit],
          )
        : await this.sql.query<InboundRow>(
            'SELECT * FROM inbound_messages WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
            [tenantId, options.before, options.limit],
          );
    return rows.map(toInboundRecord);
  }

  async tenantOfSender(sender: string): Promise<string | undefined> {
    const rows = await this.sql.query<{ tenant_id: string }>(
      'SELECT tenant_id FROM tenant_senders WHERE sender = ? ORDER BY created_at, tenant_id LIMIT 1',
      [sender],
    );
    return rows[0]?.tenant_id;
  }

  async lastMessageTo(tenantId: string, recipient: string, sender: string): Promise<string | undefined> {
    // idx_messages_tenant_recipient serves it: newest first, the sender checked on the way.
    const rows = await this.sql.query<{ id: string }>(
      'SELECT id FROM messages WHERE tenant_id = ? AND recipient = ? AND sender = ? ORDER BY id DESC LIMIT 1',
      [tenantId, recipient, sender],
    );
    return rows[0]?.id;
  }
}

function toInboundRecord(row: InboundRow): InboundRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    provider: row.provider,
    providerMessageId: row.provider_message_id,
    from: row.sender_phone,
    to: row.recipient,
    body: row.body,
    parts: Number(row.parts),
    keyword: row.keyword as KeywordAction | null,
    inReplyTo: row.in_reply_to,
    receivedAt: Number(row.received_at),
  };
}
