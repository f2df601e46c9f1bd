import type { CampaignUnsentRow, CampaignUnsentStore } from '../kinds/campaigns.ts';
import { insertGroups, oneRowOnce, type SqlDialect } from './dialect.ts';
import type { SqlRunner } from './runner.ts';

const COUNT_UNSENT = 'SELECT COUNT(*) AS n FROM campaign_unsent_rows WHERE campaign_id = ?';
const LIST_UNSENT = `SELECT row_no, code, reason FROM campaign_unsent_rows
WHERE campaign_id = ? AND run = ? AND row_no > ? ORDER BY row_no LIMIT ?`;

/** `campaign_unsent_rows`: the rows a campaign run expanded without sending. */
export class SqlCampaignUnsentStore implements CampaignUnsentStore {
  private readonly insert: (rows: number) => string;

  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
  ) {
    const v = (c: string) => dialect.incoming(c);
    this.insert = oneRowOnce(
      (rows) => `INSERT INTO campaign_unsent_rows (campaign_id, run, row_no, code, reason) VALUES
${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ')}
${dialect.upsert(['campaign_id', 'run', 'row_no'], `code = ${v('code')}, reason = ${v('reason')}`)}`,
    );
  }

  async recordUnsentRows(campaignId: string, run: number, rows: readonly CampaignUnsentRow[]): Promise<void> {
    const groups = insertGroups(this.dialect, rows, 500);
    await this.sql.transaction(
      groups.map((group) => ({
        sql: this.insert(group.length),
        params: group.flatMap((r) => [campaignId, run, r.rowNo, r.code, r.reason]),
      })),
    );
  }

  async countUnsentRows(campaignId: string): Promise<number> {
    const [row] = await this.sql.query<{ n: number | bigint | string }>(COUNT_UNSENT, [campaignId]);
    return Number(row?.n ?? 0);
  }

  async listUnsentRows(
    campaignId: string,
    run: number,
    page: { limit: number; after?: number },
  ): Promise<CampaignUnsentRow[]> {
    const rows = await this.sql.query<{ row_no: number; code: string; reason: string }>(LIST_UNSENT, [
      campaignId,
      run,
      page.after ?? -1,
      page.limit,
    ]);
    return rows.map((r) => ({ rowNo: Number(r.row_no), code: r.code, reason: r.reason }));
  }
}
