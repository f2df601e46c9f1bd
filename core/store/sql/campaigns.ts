import type { MessageClass, MessageStatus } from '../../message.ts';
import type {
  CampaignApprovalSettings,
  CampaignChanges,
  CampaignMessage,
  CampaignRecipient,
  CampaignRecord,
  CampaignRowError,
  CampaignState,
  CampaignStatusCount,
  CampaignStore,
  CampaignUnsettledCounts,
  Recurrence,
} from '../kinds/campaigns.ts';
import { insertInto, num, numberOrNull, replaceRow } from '../rows.ts';
import { insertGroups, type SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

/** A `campaigns` row as either driver returns it. */
interface CampaignRow {
  tenant_id: string;
  id: string;
  name: string;
  state: string;
  template_id: string | null;
  body: string | null;
  message_class: string;
  locale: string | null;
  variables: string;
  sender: string | null;
  send_at: number | string | null;
  first_send_at: number | string | null;
  time_zone: string | null;
  recurrence: string | null;
  rate_cap: number | string | null;
  recipient_count: number | string;
  invalid_count: number | string;
  estimated_cost: number | string | null;
  next_row: number | string;
  run: number | string;
  idempotency_key: string | null;
  request_hash: string | null;
  created_by: string | null;
  approved_by: string | null;
  lease_owner: string | null;
  lease_until: number | string | null;
  created_at: number | string;
  updated_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
}

const CAMPAIGN_COLUMNS = [
  'tenant_id',
  'id',
  'name',
  'state',
  'template_id',
  'body',
  'message_class',
  'locale',
  'variables',
  'sender',
  'send_at',
  'first_send_at',
  'time_zone',
  'recurrence',
  'rate_cap',
  'recipient_count',
  'invalid_count',
  'estimated_cost',
  'next_row',
  'run',
  'idempotency_key',
  'request_hash',
  'created_by',
  'approved_by',
  'lease_owner',
  'lease_until',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
] as const;

/** The column each optional change of a transition writes. */
const CHANGE_COLUMNS: Record<keyof CampaignChanges, string> = {
  estimatedCost: 'estimated_cost',
  approvedBy: 'approved_by',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  sendAt: 'send_at',
  nextRow: 'next_row',
  run: 'run',
};

/**
 * Rows per INSERT of recipients: 5 placeholders a row keeps a group far below MySQL's 65,535, and
 * a few hundred rows per round trip is where larger groups stop paying off.
 */
const RECIPIENT_GROUP = 500;
/** Message ids per primary-key lookup of `storedCampaignMessageIds`. */
const ID_LOOKUPS_PER_QUERY = 1_000;
const SETTINGS_COLUMNS = ['tenant_id', 'max_recipients', 'max_cost', 'updated_at'] as const;

/** `campaigns`, `campaign_recipients`, `campaign_row_errors` and `tenant_campaign_settings`. */
export class SqlCampaignStore implements CampaignStore {
  private readonly insertCampaign = insertInto('campaigns', CAMPAIGN_COLUMNS);
  private readonly upsertRecipients: (rows: number) => string;
  private readonly upsertRowErrors: (rows: number) => string;
  private readonly upsertSettings: string;

  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.upsertRecipients = (rows) =>
      `${insertInto('campaign_recipients', ['campaign_id', 'row_no', 'e164', 'variables', 'client_ref'], rows)}
${dialect.upsert(['campaign_id', 'row_no'], `e164 = ${v('e164')}, variables = ${v('variables')}, client_ref = ${v('client_ref')}`)}`;
    this.upsertRowErrors = (rows) =>
      `${insertInto('campaign_row_errors', ['campaign_id', 'row_no', 'code', 'reason'], rows)}
${dialect.upsert(['campaign_id', 'row_no'], `code = ${v('code')}, reason = ${v('reason')}`)}`;
    this.upsertSettings = replaceRow(dialect, 'tenant_campaign_settings', SETTINGS_COLUMNS, ['tenant_id']);
  }

  async createCampaign(record: CampaignRecord): Promise<boolean> {
    return this.sql.insert(this.insertCampaign, campaignValues(record));
  }

  async getCampaign(tenantId: string, id: string): Promise<CampaignRecord | undefined> {
    const [row] = await this.sql.query<CampaignRow>(
      'SELECT * FROM campaigns WHERE tenant_id = ? AND id = ?',
      [tenantId, id],
    );
    return row && toCampaignRecord(row);
  }

  async findCampaignByIdempotencyKey(tenantId: string, key: string): Promise<CampaignRecord | undefined> {
    const [row] = await this.sql.query<CampaignRow>(
      'SELECT * FROM campaigns WHERE tenant_id = ? AND idempotency_key = ?',
      [tenantId, key],
    );
    return row && toCampaignRecord(row);
  }

  async listCampaigns(tenantId: string, page: { limit: number; before?: string }): Promise<CampaignRecord[]> {
    const rows =
      page.before === undefined
        ? await this.sql.query<CampaignRow>(
            'SELECT * FROM campaigns WHERE tenant_id = ? ORDER BY id DESC LIMIT ?',
            [tenantId, page.limit],
          )
        : await this.sql.query<CampaignRow>(
            'SELECT * FROM campaigns WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
            [tenantId, page.before, page.limit],
          );
    return rows.map(toCampaignRecord);
  }

  async transitionCampaign(
    tenantId: string,
    id: string,
    from: readonly CampaignState[],
    to: CampaignState,
    at: number,
    changes: CampaignChanges = {},
  ): Promise<boolean> {
    if (from.length === 0) return false;
    const sets = ['state = ?', 'updated_at = ?'];
    const params: unknown[] = [to, at];
    for (const [key, column] of Object.entries(CHANGE_COLUMNS) as Array<[keyof CampaignChanges, string]>) {
      if (changes[key] === undefined) continue;
      sets.push(`${column} = ?`);
      params.push(changes[key]);
    }
    return (
      (await this.sql.execute(
        `UPDATE campaigns SET ${sets.join(', ')}
WHERE tenant_id = ? AND id = ? AND state IN (${from.map(() => '?').join(', ')})`,
        [...params, tenantId, id, ...from],
      )) > 0
    );
  }

  async setCampaignCounts(
    tenantId: string,
    id: string,
    counts: { recipientCount: number; invalidCount: number; estimatedCost: number | null },
    at: number,
  ): Promise<boolean> {
    return (
      (await this.sql.execute(
        `UPDATE campaigns SET recipient_count = ?, invalid_count = ?, estimated_cost = ?, updated_at = ?
WHERE tenant_id = ? AND id = ? AND state = 'draft'`,
        [counts.recipientCount, counts.invalidCount, counts.estimatedCost, at, tenantId, id],
      )) > 0
    );
  }

  async leaseCampaign(
    tenantId: string,
    id: string,
    owner: string,
    now: number,
    until: number,
  ): Promise<boolean> {
    return (
      (await this.sql.execute(
        `UPDATE campaigns SET lease_owner = ?, lease_until = ?
WHERE tenant_id = ? AND id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)`,
        [owner, until, tenantId, id, owner, now],
      )) > 0
    );
  }

  async releaseCampaign(tenantId: string, id: string, owner: string): Promise<boolean> {
    return (
      (await this.sql.execute(
        `UPDATE campaigns SET lease_owner = NULL, lease_until = NULL
WHERE tenant_id = ? AND id = ? AND lease_owner = ?`,
        [tenantId, id, owner],
      )) > 0
    );
  }

  async advanceCampaign(
    tenantId: string,
    id: string,
    expected: { run: number; nextRow: number },
    next: { run: number; nextRow: number },
    at: number,
  ): Promise<boolean> {
    return (
      (await this.sql.execute(
        `UPDATE campaigns SET run = ?, next_row = ?, updated_at = ?
WHERE tenant_id = ? AND id = ? AND state = 'running' AND run = ? AND next_row = ?`,
        [next.run, next.nextRow, at, tenantId, id, expected.run, expected.nextRow],
      )) > 0
    );
  }

  async dueCampaigns(now: number, limit: number): Promise<CampaignRecord[]> {
    // Two ranges of idx_campaigns_due, each limited, then merged: an OR across states would
    // not use the index on MySQL.
    const scheduled = await this.sql.query<CampaignRow>(
      `SELECT * FROM campaigns WHERE state = 'scheduled' AND (send_at IS NULL OR send_at <= ?)
ORDER BY send_at LIMIT ?`,
      [now, limit],
    );
    const running = await this.sql.query<CampaignRow>(
      `SELECT * FROM campaigns WHERE state = 'running' AND (lease_until IS NULL OR lease_until < ?)
ORDER BY send_at LIMIT ?`,
      [now, limit],
    );
    return [...scheduled, ...running]
      .map(toCampaignRecord)
      .sort((a, b) => (a.sendAt ?? 0) - (b.sendAt ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, limit);
  }

  async appendRecipients(campaignId: string, rows: readonly CampaignRecipient[]): Promise<void> {
    const groups = insertGroups(this.dialect, rows, RECIPIENT_GROUP);
    await this.sql.transaction(
      groups.map((group) => ({
        sql: this.upsertRecipients(group.length),
        params: group.flatMap((r) => [
          campaignId,
          r.rowNo,
          r.to,
          Object.keys(r.variables).length === 0 ? null : JSON.stringify(r.variables),
          r.clientRef,
        ]),
      })),
    );
  }

  async readRecipients(campaignId: string, from: number, limit: number): Promise<CampaignRecipient[]> {
    const rows = await this.sql.query<{
      row_no: number | string;
      e164: string;
      variables: string | null;
      client_ref: string | null;
    }>(
      `SELECT row_no, e164, variables, client_ref FROM campaign_recipients
WHERE campaign_id = ? AND row_no >= ? AND row_no < ? ORDER BY row_no`,
      [campaignId, from, from + limit],
    );
    return rows.map((row) => ({
      rowNo: num(row.row_no),
      to: row.e164,
      variables: row.variables === null ? {} : (JSON.parse(row.variables) as Record<string, string>),
      clientRef: row.client_ref,
    }));
  }

  async appendRowErrors(campaignId: string, errors: readonly CampaignRowError[]): Promise<void> {
    const groups = insertGroups(this.dialect, errors, RECIPIENT_GROUP);
    await this.sql.transaction(
      groups.map((group) => ({
        sql: this.upsertRowErrors(group.length),
        params: group.flatMap((e) => [campaignId, e.row, e.code, e.reason.slice(0, 512)]),
      })),
    );
  }

  async listRowErrors(
    campaignId: string,
    page: { limit: number; after?: number },
  ): Promise<CampaignRowError[]> {
    const rows = await this.sql.query<{ row_no: number | string; code: string; reason: string }>(
      `SELECT row_no, code, reason FROM campaign_row_errors WHERE campaign_id = ? AND row_no > ?
ORDER BY row_no LIMIT ?`,
      [campaignId, page.after ?? 0, page.limit],
    );
    return rows.map((row) => ({ row: num(row.row_no), code: row.code, reason: row.reason }));
  }

  async clearRecipients(campaignId: string): Promise<void> {
    // In bounded deletes: a million-row DELETE in one transaction holds its locks (and, on TiDB,
    // its memory) for all of them at once.
    for (const table of ['campaign_recipients', 'campaign_row_errors']) {
      while (
        (await this.sql.execute(this.dialect.deleteLimited(table, 'campaign_id = ?', 'row_no'), [
          campaignId,
          10_000,
        ])) === 10_000
      );
    }
  }

  async campaignStatusCounts(tenantId: string, campaignId: string): Promise<CampaignStatusCount[]> {
    // Only the campaign id, so idx_messages_campaign_status covers the query and no message row is
    // read: campaign ids are ULIDs unique across tenants, and only a campaign's runner sets one.
    void tenantId;
    const rows = await this.sql.query<{ status: string; error_code: string | null; n: number | string }>(
      `SELECT status, error_code, COUNT(*) AS n FROM messages WHERE campaign_id = ?
GROUP BY status, error_code ORDER BY status, error_code`,
      [campaignId],
    );
    return rows.map((row) => ({
      status: row.status as MessageStatus,
      errorCode: row.error_code,
      count: num(row.n),
    }));
  }

  async campaignUnsettledCounts(campaignId: string): Promise<CampaignUnsettledCounts> {
    const rows = await this.sql.query<{ status: string; n: number | string }>(
      `SELECT status, COUNT(*) AS n FROM messages WHERE campaign_id = ? AND status IN ('queued', 'submitted')
GROUP BY status`,
      [campaignId],
    );
    const counts: CampaignUnsettledCounts = { queued: 0, submitted: 0 };
    for (const row of rows) counts[row.status as keyof CampaignUnsettledCounts] = num(row.n);
    return counts;
  }

  async storedCampaignMessageIds(campaignId: string, ids: readonly string[]): Promise<string[]> {
    const stored: string[] = [];
    // Primary-key lookups in bounded lists: a statement's placeholders stay far below the limits.
    for (let i = 0; i < ids.length; i += ID_LOOKUPS_PER_QUERY) {
      const part = ids.slice(i, i + ID_LOOKUPS_PER_QUERY);
      const rows = await this.sql.query<{ id: string }>(
        `SELECT id FROM messages WHERE id IN (${part.map(() => '?').join(', ')}) AND campaign_id = ?`,
        [...part, campaignId],
      );
      for (const row of rows) stored.push(row.id);
    }
    return stored;
  }

  async listCampaignMessages(
    tenantId: string,
    campaignId: string,
    page: { limit: number; after?: string },
  ): Promise<CampaignMessage[]> {
    const rows = await this.sql.query<{
      id: string;
      recipient: string | null;
      client_ref: string | null;
      status: string;
      error_code: string | null;
      provider: string | null;
      segments: number | string | null;
      cost: number | string | null;
      queued_at: number | string | null;
      submitted_at: number | string | null;
      final_at: number | string | null;
    }>(
      `SELECT id, recipient, client_ref, status, error_code, provider, segments, cost, queued_at,
submitted_at, final_at FROM messages WHERE campaign_id = ? AND tenant_id = ? AND id > ?
ORDER BY id LIMIT ?`,
      [campaignId, tenantId, page.after ?? '', page.limit],
    );
    return rows.map((row) => ({
      id: row.id,
      to: row.recipient ?? '',
      clientRef: row.client_ref,
      status: row.status as MessageStatus,
      errorCode: row.error_code,
      provider: row.provider,
      segments: row.segments === null ? 1 : num(row.segments),
      cost: numberOrNull(row.cost),
      queuedAt: numberOrNull(row.queued_at),
      submittedAt: numberOrNull(row.submitted_at),
      finalAt: numberOrNull(row.final_at),
    }));
  }

  async getCampaignApproval(tenantId: string): Promise<CampaignApprovalSettings | undefined> {
    const [row] = await this.sql.query<{
      max_recipients: number | string | null;
      max_cost: number | string | null;
      updated_at: number | string;
    }>('SELECT * FROM tenant_campaign_settings WHERE tenant_id = ?', [tenantId]);
    return (
      row && {
        maxRecipients: numberOrNull(row.max_recipients),
        maxCost: numberOrNull(row.max_cost),
        updatedAt: num(row.updated_at),
      }
    );
  }

  async putCampaignApproval(tenantId: string, settings: CampaignApprovalSettings): Promise<void> {
    await this.sql.execute(this.upsertSettings, [
      tenantId,
      settings.maxRecipients,
      settings.maxCost,
      settings.updatedAt,
    ]);
  }
}

function campaignValues(r: CampaignRecord): unknown[] {
  return [
    r.tenantId,
    r.id,
    r.name,
    r.state,
    r.templateId,
    r.body,
    r.messageClass,
    r.locale,
    JSON.stringify(r.variables),
    r.from,
    r.sendAt,
    r.firstSendAt,
    r.timeZone,
    r.recurrence,
    r.rateCap,
    r.recipientCount,
    r.invalidCount,
    r.estimatedCost,
    r.nextRow,
    r.run,
    r.idempotencyKey,
    r.requestHash,
    r.createdBy,
    r.approvedBy,
    r.leaseOwner,
    r.leaseUntil,
    r.createdAt,
    r.updatedAt,
    r.startedAt,
    r.finishedAt,
  ];
}

function toCampaignRecord(row: CampaignRow): CampaignRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    name: row.name,
    state: row.state as CampaignState,
    templateId: row.template_id,
    body: row.body,
    messageClass: row.message_class as MessageClass,
    locale: row.locale,
    variables: JSON.parse(row.variables) as Record<string, string>,
    from: row.sender,
    sendAt: numberOrNull(row.send_at),
    firstSendAt: numberOrNull(row.first_send_at),
    timeZone: row.time_zone,
    recurrence: row.recurrence as Recurrence | null,
    rateCap: numberOrNull(row.rate_cap),
    recipientCount: num(row.recipient_count),
    invalidCount: num(row.invalid_count),
    estimatedCost: numberOrNull(row.estimated_cost),
    nextRow: num(row.next_row),
    run: num(row.run),
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    createdBy: row.created_by,
    approvedBy: row.approved_by,
    leaseOwner: row.lease_owner,
    leaseUntil: numberOrNull(row.lease_until),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    startedAt: numberOrNull(row.started_at),
    finishedAt: numberOrNull(row.finished_at),
  };
}
